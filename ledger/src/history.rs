//! An item's custody history: every event naming it, the events of every container it travelled
//! in while it was inside, and the events of the items it was made from or made into (one step).
//!
//! Containment comes from AggregationEvents: an `ADD` (or `OBSERVE`) with the item in `childEPCs`
//! puts it in the `parentID` from the event's time; a `DELETE` naming it (or naming no children:
//! the whole container is unpacked), or its joining another container, takes it out. The
//! container's own events between those times count for the item, and so, recursively, do the
//! events of the container's containers while both were packed (a case in a pallet in a
//! container). A TransformationEvent that consumed the item brings in the later events of its
//! outputs; one that produced it, the earlier events of its inputs. Transformations are followed
//! one step, never through a second transformation or a related item's containers.
//!
//! Only events whose reporter had authority for what they do ([`authority`]) shape a history: an
//! unauthorised `ADD`, `DELETE` or transformation is shown (when it names the item), marked with
//! why it has no authority, and opens or closes no window.
//!
//! The algorithm is pure and runs in two steps: it gathers, from an [`EventSource`], every event
//! naming the item, and in rounds the events of each container and related item that a packing
//! or transformation by a party that spoke for the item leads to, judging each event's authority
//! in event-time order after every round ([`authority::assess_relations`]); then it puts the
//! history together from the events that count. So a party without custody of an item cannot
//! make its history read anything of that party's choosing, and the algorithm runs the same on
//! the ledger (trace-api) and on the events of a provenance bundle ([`in_memory`], which
//! `tagtrail verify` runs to recompute a bundle's story).
//!
//! One reporter's events cannot push out another's: when more events are candidates than a
//! history may take, it chooses before any is loaded ([`choose`]), knowing from the lookups who
//! reported each and whether it changes state ([`Tag`]): every state change is read, and
//! observations, which weigh in no judgement, are shared out by reporter ([`share`]); a history
//! that still holds too many keeps every authorised state change and shares out the rest,
//! refused changes with observations. What was left out is counted by reporter
//! ([`History::omitted`]). No state change of a party that, as judged, has authority over the
//! item is ever left out, and no party has all of its state changes left out: the history is
//! refused instead.
//!
//! # Left-out receipts and claims
//!
//! A receipt settles a shipment whoever is judged to hold anything: the first logged by a party
//! the shipment names (dated after it) takes the item, and the existence of a shipment and of a
//! named party's receipt refuses a transfer backdated before them, however either is judged. So
//! a share can leave out a receipt of a party without authority as judged (whose other changes
//! it may leave out) that would have settled a shipment, or refused a transfer, and the history
//! then judges another party's receipt or transfer, and all that rests on it, otherwise than the
//! whole log does. Once no custodian's change is left out, the gathering also reads the left-out
//! receipts ([`Tag::receipt`], from the lookups: nothing is loaded to find them) of every party
//! acting for one that a shipping of what the history reaches names, or for its shipper (or one
//! of these acts for it), whatever the shipping is judged and whenever the receipt was logged;
//! then judges again (a receipt read can make its reporter a custodian, whose left-out changes
//! are then read too). Those receipts have a budget of their own, a history's limit, apart from
//! the gathering's: each party's first in log order, at most a quarter of the budget a party,
//! shared out by party ([`share`]) where more are left, and the rest passed over (counted in
//! [`History::omitted`]) until the gathering has found everything it can; then half the room
//! left in the budget goes to those passed over that could still matter, shared out by party
//! with no party capped, they are judged again, and so on: what they lead to (a container, a
//! custodian, a shipping naming other parties) still finds the other half. A passed-over party
//! that proves a custodian has its changes read like any custodian's. A named party that floods
//! receipts taking nothing never makes the history refused (a party whose receipt does take the
//! item is a custodian, all of whose changes are read, as always), and takes at most a quarter
//! of the budget from the parties found after it, and half of the room they leave. What it can
//! still do is hide a receipt of its own that does take the item behind more than the budget
//! holds of others; and four parties flooding together can spend the budget before a party
//! found in a later pass is read, whose receipts are then passed over and counted, not read.
//!
//! So it is with claims ([`claims`]: commissioning, a transformation's outputs, packing into a
//! container). Under no registered company prefix the first claim logged brings an identifier
//! into being, whoever is judged to hold anything, and a share can leave it out (its reporter's
//! earlier events took that reporter's part). With the receipts, in the same budget, the
//! gathering reads the left-out claims ([`Tag::claim`]) logged before the first claim the
//! gathered events hold of each identifier under no registered prefix that a gathered state
//! change names (spelt as the events spell it; withdrawn events count for nothing), or all of
//! them when the gathered events hold no claim of one, then judges again. Any party with a
//! claim left out (not only parties a shipping names) takes from that budget, at most its
//! quarter while parties may still be found: four parties flooding claims, receipts or both can
//! spend it before a claim found later is read, which is then passed over and counted, not
//! read, as above. The tags are the lookup pair's: one says that the entry claims the
//! identifier it was found by ([`Tag::claim`]), another that it claims something else
//! ([`Tag::other_claim`]: a packing of the item claims its container, and only its pair under
//! the container says it claims that). A claim of something the history asked about could be
//! first of any identifier that matters; a claim of something else only of one the history did
//! not ask about (it would have been found by that one too), and is read only while one of
//! those could be claimed first. So a party's claims of other identifiers (packings of the item
//! into containers of its own, however many) spend nothing of the budget while every identifier
//! the gathered state changes name that the history did not ask about has its first claim among
//! them. One gathered state change naming an unregistered identifier the history did not ask
//! about and holds no claim of (a shipping listing a sibling item), or claiming one late in the
//! log, makes every claim of another identifier logged before it one that could be first; those
//! are then read within the shares above, each party's after its own receipts and claims of what
//! was asked about that are found with them: however many packings of the item into its own
//! containers a party logs, they never take the place of its own claim of the item found in the
//! same pass (those read in an earlier pass still count against its part). Across parties they
//! are shared out as anything else is, so four parties flooding them can still spend the budget
//! before a later party's claim is read, as above.

pub mod authority;
mod item;
mod receipts;
mod shipments;
mod tag;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::task::{Context, Poll, Waker};

use serde_json::{Map, Value};

use epcis::document::Timestamp;

use crate::bundle::Why as BundleWhy;
use crate::ids::OrganisationId;
use crate::size::LeafIndex;

pub use authority::{
    Authority, Judgement, Listed, Parties, RecallChange, RecalledClass, Spoken, assess,
    assess_relations, changes_state, claimed, claims, class_recall_names, ilmd_lot, item_classes,
    listed, recall_change, recall_scope, recalled_classes, receives, shipped_to, transferee_of,
    withdrawals,
};
pub use item::{Form, Item, ItemError, MAX_ITEM_LEN};
pub use tag::{Tag, device_digest, site_digest};

/// The most levels of containers followed (item in case in pallet in container ...).
pub const MAX_CONTAINER_DEPTH: usize = 8;

/// One event as the history needs it.
#[derive(Debug, Clone)]
pub struct SourceEvent<T> {
    /// Where it is in the log.
    pub leaf: LeafIndex,
    /// The event, parsed.
    pub event: Map<String, Value>,
    /// Its `eventTime`, in nanoseconds since the Unix epoch.
    pub time: i128,
    /// The organisation that reported it, when the registry knows it.
    pub reporter: Option<OrganisationId>,
    /// When it was captured (its leaf record's time), in nanoseconds since the Unix epoch.
    pub captured: Option<i128>,
    /// Its CBV 2.0 event hash, as its leaf record commits to it, when the source knows it: what
    /// matches an error declaration with the event it declares ([`authority::withdrawals`]).
    pub hash: Option<epcis::EventHash>,
    /// What the source attaches (the stored entry, for the service).
    pub payload: T,
}

impl SourceEvent<()> {
    /// An event of the log as the history reads it: its time from its `eventTime` (an event
    /// whose `eventTime` does not parse sorts first), its capture time from its leaf record.
    pub fn of(
        leaf: LeafIndex,
        event: Map<String, Value>,
        reporter: Option<OrganisationId>,
        captured: Option<crate::UnixMillis>,
    ) -> Self {
        SourceEvent {
            leaf,
            time: event_time(&event).unwrap_or(i128::MIN),
            event,
            reporter,
            captured: captured.map(|millis| i128::from(millis.as_millis()) * 1_000_000),
            hash: None,
            payload: (),
        }
    }
}

impl<T> SourceEvent<T> {
    /// The event with the CBV 2.0 event hash its leaf record commits to, when the record binds
    /// the event's bytes (version 2): a version 1 record's hash leaves `errorDeclaration` out and
    /// binds nothing else, so anyone could add or strip that member; no declaration is logged
    /// under one, and no event under one is matched with a declaration.
    pub fn bound_by(mut self, record: &crate::record::LeafRecord) -> Self {
        self.hash = record.event_digest().map(|_| *record.event_hash());
        self
    }

    /// The event carrying `payload` in place of its own.
    pub fn carrying<U>(self, payload: U) -> SourceEvent<U> {
        SourceEvent {
            leaf: self.leaf,
            event: self.event,
            time: self.time,
            reporter: self.reporter,
            captured: self.captured,
            hash: self.hash,
            payload,
        }
    }
}

/// An event's `eventTime` in nanoseconds since the Unix epoch; `None` when it has none or it
/// does not parse.
pub fn event_time(event: &Map<String, Value>) -> Option<i128> {
    let text = event.get("eventTime")?.as_str()?;
    Timestamp::parse(text).ok().map(Timestamp::unix_nanos)
}

/// What a source gives for some identifiers: the events it loaded, and the candidates it left
/// out ([`share`]).
#[derive(Debug, Clone)]
pub struct Found<T> {
    /// The events loaded.
    pub events: Vec<SourceEvent<T>>,
    /// The candidates left out.
    pub left_out: Vec<Candidate>,
}

/// The events naming some identifiers, or why none were loaded.
pub type Named<T> = Result<Found<T>, Refused>;

/// Why a source's candidates were not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// More state changes were candidates than a history may take, and sharing them out would
    /// leave some reporter with none of its changes read: they might change the item's state,
    /// and nothing could show that they did not.
    Crowded,
}

/// How many times its limit of candidates a trace (`trace-api`'s recall tracing) chooses among
/// before it refuses: learning who reported each of a lot's or a place's candidates costs a
/// read of its leaf record. Histories learn it from the lookups ([`Tag`]) and have no such
/// ceiling.
pub const SHARE_CEILING: usize = 4;

/// Events a history left out: more events named what it follows than it may take, and these were
/// their reporter's beyond its share ([`share`]). In JSON (a history, a provenance bundle):
/// `{"reportedBy": "<organisation>", "events": <count>}`, without `reportedBy` when the reporter
/// is not known.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Omitted {
    /// The organisation that reported them; `None` for entries whose reporter the registry does
    /// not know.
    #[serde(
        rename = "reportedBy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reporter: Option<OrganisationId>,
    /// How many were left out.
    pub events: usize,
}

/// An event that names what a history follows, before it is loaded: where it is, who reported
/// it, whether it changes some item's state ([`changes_state`]; an event whose kind is not
/// known counts as one), whether it is a receipt ([`receives`]) and whether it claims to bring
/// one of the identifiers it was found by, or another, into being ([`claimed`]) (one whose kind
/// is not known is neither: ingest validates every event, and such an entry is still read as a
/// state change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub leaf: LeafIndex,
    pub reporter: Option<OrganisationId>,
    pub changes: bool,
    /// A receipt can settle a shipment whoever is judged to hold the item: a history reads the
    /// left-out receipts of the parties the shipments it reaches name ([`history`], "Left-out
    /// receipts").
    pub receipt: bool,
    /// Under no registered company prefix, the first claim logged to bring an identifier into
    /// being decides who did, whoever is judged to hold anything: a history reads the left-out
    /// claims that could be first ([`history`], "Left-out receipts and claims"). Whether the
    /// event claims one of the identifiers it was found by ([`Tag::claim`]): a packing of the
    /// item into a case is no claim of the item's.
    pub claim: bool,
    /// Whether the event claims an identifier other than those it was found by
    /// ([`Tag::other_claim`]): the case a packing of the item packs into.
    pub other_claim: bool,
}

impl Candidate {
    /// A loaded event as a candidate, found by every identifier it names: a claim when it
    /// claims anything.
    pub fn of<T>(event: &SourceEvent<T>) -> Self {
        Self {
            leaf: event.leaf,
            reporter: event.reporter.clone(),
            changes: changes_state(&event.event),
            receipt: receives(&event.event),
            claim: claims(&event.event),
            other_claim: false,
        }
    }

    /// A loaded event as a candidate found by `names`: a claim when it claims one of them, and
    /// another's when it claims anything else, as the lookup pairs under them tell
    /// ([`Tag::naming`]).
    pub fn naming<T>(event: &SourceEvent<T>, names: &[String]) -> Self {
        let (claim, other_claim) = claims_among(&event.event, names);
        Self {
            claim,
            other_claim,
            ..Self::of(event)
        }
    }

    /// A candidate as a lookup tags it ([`Tag`]), its reporter's digest resolved by `parties`.
    pub fn tagged(leaf: LeafIndex, tag: Tag, parties: &Parties) -> Self {
        Self {
            leaf,
            reporter: parties.reporter_of_digest(tag.reporter()).cloned(),
            changes: tag.changes_state(),
            receipt: tag.receipt(),
            claim: tag.claim(),
            other_claim: tag.other_claim(),
        }
    }
}

/// Whether `event` claims to bring one of `names` into being, and whether it claims anything
/// else ([`claimed`]): what the lookup pairs of its entry under `names` tell together
/// ([`Tag::naming`]), for an entry not in the lookups yet.
pub fn claims_among(event: &Map<String, Value>, names: &[String]) -> (bool, bool) {
    let (of, other): (Vec<&str>, Vec<&str>) = claimed(event)
        .into_iter()
        .partition(|id| names.iter().any(|name| name == id));
    (!of.is_empty(), !other.is_empty())
}

/// Which of `candidates` a history takes when it may take at most `most`: all of them when they
/// fit; otherwise each reporter's up to one cap, the largest with which they fit (the places
/// left over go one each to the capped reporters whose first candidate is earliest in the log),
/// so that a reporter with fewer events than the cap keeps every one and one with more keeps its
/// first in log order. However many events one reporter has, every other keeps at least its
/// equal part. Returns the leaves taken, in leaf order, and the candidates left out.
pub fn share(candidates: Vec<Candidate>, most: usize) -> (Vec<LeafIndex>, Vec<Candidate>) {
    share_ranked(candidates, most, |_| false)
}

/// As [`share`], each reporter's candidates that are `later` taken after its others (each in
/// log order): a reporter keeps its others first. How many each reporter keeps is what [`share`]
/// gives it: the spare places go to the reporters whose earliest candidate is earliest, whatever
/// its rank.
fn share_ranked(
    mut candidates: Vec<Candidate>,
    most: usize,
    later: impl Fn(&Candidate) -> bool,
) -> (Vec<LeafIndex>, Vec<Candidate>) {
    candidates.sort_unstable_by(|a, b| (&a.reporter, a.leaf).cmp(&(&b.reporter, b.leaf)));
    candidates.dedup_by(|a, b| a.leaf == b.leaf);
    // Stable: each rank stays in log order.
    candidates.sort_by_cached_key(|candidate| (candidate.reporter.clone(), later(candidate)));
    if candidates.len() <= most {
        let mut leaves: Vec<LeafIndex> = candidates.into_iter().map(|c| c.leaf).collect();
        leaves.sort_unstable();
        return (leaves, Vec::new());
    }
    // Each reporter's run of candidates (in the order it takes them), smallest first, then
    // earliest first.
    let earliest = |run: &[Candidate]| run.iter().map(|candidate| candidate.leaf).min();
    let mut runs: Vec<&[Candidate]> = candidates
        .chunk_by(|a, b| a.reporter == b.reporter)
        .collect();
    runs.sort_by_key(|run| (run.len(), earliest(run)));
    let mut cap = usize::MAX;
    let mut spare = 0;
    let mut left = most;
    for (taken, run) in runs.iter().enumerate() {
        let sharing = runs.len() - taken;
        if run.len().saturating_mul(sharing) > left {
            cap = left / sharing;
            spare = left % sharing;
            break;
        }
        left -= run.len();
    }
    // Runs kept whole never exceed the cap: the equal part of what is left only grows past them.
    // The capped runs are longer than the cap, so each can take one spare place.
    let mut capped: Vec<&[Candidate]> =
        runs.iter().copied().filter(|run| run.len() > cap).collect();
    capped.sort_by_key(|run| earliest(run));
    let extra: HashSet<Option<LeafIndex>> =
        capped.iter().take(spare).map(|run| earliest(run)).collect();
    let mut leaves = Vec::with_capacity(most);
    let mut left_out = Vec::new();
    for run in runs {
        let keep = cap.saturating_add(usize::from(extra.contains(&earliest(run))));
        let (kept, out) = run.split_at(keep.min(run.len()));
        leaves.extend(kept.iter().map(|candidate| candidate.leaf));
        left_out.extend_from_slice(out);
    }
    leaves.sort_unstable();
    (leaves, left_out)
}

/// Which of `candidates` a history takes when it may take at most `most`, knowing which change
/// state: every state change when they fit, and the observations [`share`]d out in the places
/// left; otherwise the state changes shared out, and no observation. Observations weigh in no
/// judgement of authority, so leaving any number of them out changes nothing the history
/// decides. Refused when the state changes are shared out and some registered reporter would
/// have none of them read.
pub fn choose(
    candidates: Vec<Candidate>,
    most: usize,
) -> Result<(Vec<LeafIndex>, Vec<Candidate>), Refused> {
    if candidates.len() <= most {
        return Ok(share(candidates, most));
    }
    let (changes, observations): (Vec<Candidate>, Vec<Candidate>) = candidates
        .into_iter()
        .partition(|candidate| candidate.changes);
    if changes.len() <= most {
        let mut taken: Vec<LeafIndex> = changes.iter().map(|candidate| candidate.leaf).collect();
        let (observed, left_out) = share(observations, most - changes.len());
        taken.extend(observed);
        taken.sort_unstable();
        taken.dedup();
        return Ok((taken, left_out));
    }
    let reporters: HashMap<LeafIndex, Option<OrganisationId>> = changes
        .iter()
        .map(|candidate| (candidate.leaf, candidate.reporter.clone()))
        .collect();
    let (taken, mut left_out) = share(changes, most);
    if starved(&taken, &left_out, &reporters) {
        return Err(Refused::Crowded);
    }
    left_out.extend(observations);
    Ok((taken, left_out))
}

/// What was left out, counted by reporter.
fn counted(left_out: impl IntoIterator<Item = Candidate>) -> Vec<Omitted> {
    let mut counts: BTreeMap<Option<OrganisationId>, usize> = BTreeMap::new();
    for candidate in left_out {
        *counts.entry(candidate.reporter).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(reporter, events)| Omitted { reporter, events })
        .collect()
}

/// Where events come from.
pub trait EventSource {
    /// What goes wrong reading them.
    type Error;
    /// What each event carries besides the history's needs.
    type Payload: Clone + Sync;
    /// Every event that may name one of `names` in `epcList`, `childEPCs`, `inputEPCList`,
    /// `outputEPCList` or `parentID`, but those `known` says the caller holds already, in any
    /// order, with who reported each and whether it changes state, learnt without loading any
    /// (an index may list a few that turn out not to name them), so that a history can choose
    /// before any event is read. A source bounds what this costs (the service counts the
    /// lookup's bytes against the answer's budget).
    fn candidates(
        &self,
        names: &[String],
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<Candidate>, Self::Error>>;
    /// The events at `leaves` that name one of `names` exactly (candidates that merely share a
    /// lookup key are left out), in any order.
    fn load(
        &self,
        names: &[String],
        leaves: &[LeafIndex],
    ) -> impl Future<Output = Result<Vec<SourceEvent<Self::Payload>>, Self::Error>>;
}

/// Every event naming one of `names` that `source` has, but those `known` says the caller holds:
/// at most `most` of them, and when more are candidates, those [`choose`] takes (every state
/// change that fits, observations shared out by reporter), decided from the candidates alone
/// before any event is loaded, with the candidates it left out; refused when the state changes
/// alone are more than `most` and sharing them would leave a reporter with none read.
async fn events_naming<S: EventSource>(
    source: &S,
    names: &[String],
    known: &(dyn Fn(LeafIndex) -> bool + Sync),
    most: usize,
) -> Result<Named<S::Payload>, S::Error> {
    let candidates = source.candidates(names, known).await?;
    let (leaves, left_out) = match choose(candidates, most) {
        Ok(chosen) => chosen,
        Err(refused) => return Ok(Err(refused)),
    };
    let events = source.load(names, &leaves).await?;
    Ok(Ok(Found { events, left_out }))
}

/// Whether a share left some registered reporter with none of its candidates: a reporter of a
/// candidate `left_out` that reported none of those `taken` (`reporters` gives each leaf's).
/// Entries of reporters the registry does not know have no authority over anything.
fn starved(
    taken: &[LeafIndex],
    left_out: &[Candidate],
    reporters: &HashMap<LeafIndex, Option<OrganisationId>>,
) -> bool {
    let kept: HashSet<&Option<OrganisationId>> = taken
        .iter()
        .filter_map(|leaf| reporters.get(leaf))
        .collect();
    left_out
        .iter()
        .any(|candidate| candidate.reporter.is_some() && !kept.contains(&candidate.reporter))
}

/// Why an event is in an item's history.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// It names the item.
    Direct,
    /// It names a container the item was in at the time (possibly through other containers).
    Container { container: String },
    /// It names an item the item was made from (before the transformation) or made into (after
    /// it), related through the transformation event at `transformation`.
    Transformation {
        via: String,
        transformation: LeafIndex,
    },
}

/// One event of a history, with every reason it is there and its reporter's authority.
#[derive(Debug, Clone)]
pub struct HistoryEvent<T> {
    pub event: SourceEvent<T>,
    pub why: Vec<Why>,
    pub authority: Authority,
}

impl<T> HistoryEvent<T> {
    /// An event with no reason to be in a history (gathered with it, or read beside it), with
    /// the authority `marks` gives it (an observation when they give none).
    pub fn marked(event: SourceEvent<T>, marks: &BTreeMap<LeafIndex, Authority>) -> Self {
        Self {
            authority: marks
                .get(&event.leaf)
                .cloned()
                .unwrap_or(Authority::Observation),
            event,
            why: Vec::new(),
        }
    }
}

/// An item's history, the events outside it that its authority marks rest on, and what it left
/// out.
#[derive(Debug, Clone)]
pub struct History<T> {
    /// The history, in event-time order, then log order; every event has a reason.
    pub events: Vec<HistoryEvent<T>>,
    /// The events gathered with it (of its containers and related items, outside the times the
    /// history takes from them) that change some item's state, with their authority and no
    /// reason: a verifier judges authority over the history and these, as the service did. In
    /// event-time order, then log order.
    pub context: Vec<HistoryEvent<T>>,
    /// The events naming the item, its containers and related items that were not read or not
    /// shown, by reporter: more named them than the history may take, and these were their
    /// reporters' beyond an equal share ([`choose`], [`share`]): observations of any party, and
    /// state changes only of parties without authority over the item as judged (none of whose
    /// events kept is an authorised state change). Empty when nothing was.
    pub omitted: Vec<Omitted>,
    /// The other events gathered with it: observations of its containers and related items
    /// outside the times the history takes from them, with their authority and no reason. A
    /// provenance bundle carries them so that every event naming what the history follows is in
    /// it, which its index proofs then show complete. In event-time order, then log order.
    pub outside: Vec<HistoryEvent<T>>,
    /// Every identifier the history followed (the item, its containers, the items related to it),
    /// each as the names it was asked about under, in the order asked: what a complete history
    /// proves every event of.
    pub followed: Vec<Vec<String>>,
    /// The events shown (in `events`, `context` or `outside`) that an error declaration withdrew
    /// ([`authority::withdrawals`]), each with the leaf of the declaration: they are shown, and
    /// shape nothing (no window, relation or custody rests on them).
    pub withdrawn: BTreeMap<LeafIndex, LeafIndex>,
}

impl<T> Default for History<T> {
    fn default() -> Self {
        Self {
            events: Vec::new(),
            context: Vec::new(),
            omitted: Vec::new(),
            outside: Vec::new(),
            followed: Vec::new(),
            withdrawn: BTreeMap::new(),
        }
    }
}

/// How the events' authority is decided.
#[derive(Debug, Clone, Copy)]
pub enum Judge<'a> {
    /// From the registry of parties, in event-time order ([`assess`]).
    Parties(&'a Parties),
    /// As claimed (a provenance bundle's marks and withdrawals, when the verifier has no
    /// registry): an event without a claim is an observation.
    Claimed(&'a Claims),
}

impl<'a> Judge<'a> {
    /// The registry judged with, if any.
    fn parties(self) -> Option<&'a Parties> {
        match self {
            Judge::Parties(parties) => Some(parties),
            Judge::Claimed(_) => None,
        }
    }
}

/// What a bundle claims of its events, taken when there is no registry to judge them with.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// Each event's authority; an event without a claim is an observation.
    pub marks: BTreeMap<LeafIndex, Authority>,
    /// The events error declarations withdrew, with the declaration's leaf; taken only where the
    /// events bear them out ([`authority::withdrawals`], whoever acts for whom).
    pub withdrawn: BTreeMap<LeafIndex, LeafIndex>,
}

/// How many events naming the item, its containers and its related items may be gathered for a
/// history of at most `limit` events: containers have events outside the item's time with them.
pub const GATHER_FACTOR: usize = 4;

/// The most identifiers a history asks its source about (the item's, its containers', the items
/// a transformation relates it to): one transformation listing thousands of outputs must not
/// cost thousands of queries per request.
pub const MAX_SUBJECTS: usize = 256;

/// Why a history could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError<E> {
    #[error("reading events failed")]
    Source(#[source] E),
    #[error("the history has more than {limit} events: ask about a narrower item")]
    TooLong { limit: usize },
    #[error(
        "more than {limit} events name the item, its containers and the items related to it, \
         too many to choose among"
    )]
    TooMany { limit: usize },
    #[error(
        "the item is related to more than {limit} containers and items: ask about a narrower item"
    )]
    TooManySubjects { limit: usize },
    #[error(
        "more state changes of a party with authority over the item than a history of {limit} \
         may read: ask about a narrower item"
    )]
    CustodianLeftOut { limit: usize },
    #[error(
        "the state changes naming the item, its containers and the items related to it come \
         from more parties than a history of {limit} events can read one of each: ask about a \
         narrower item"
    )]
    Crowded { limit: usize },
}

/// A span of event times, `from..until` (nanoseconds; open ends as the extremes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Window {
    from: i128,
    until: i128,
}

impl Window {
    const ALWAYS: Self = Self {
        from: i128::MIN,
        until: i128::MAX,
    };

    fn contains(self, time: i128) -> bool {
        self.from <= time && time < self.until
    }

    fn intersect(self, other: Self) -> Option<Self> {
        let window = Self {
            from: self.from.max(other.from),
            until: self.until.min(other.until),
        };
        (window.from < window.until).then_some(window)
    }
}

/// What is followed: some names over a window, for a reason.
struct Subject {
    names: Vec<String>,
    window: Window,
    why: Why,
    depth: usize,
    /// Whether its containers are followed (the item and its containers: yes; items related by a
    /// transformation: no).
    follow_containers: bool,
}

/// Puts together the history of the item named by `names` (events in event-time order, then log
/// order), with at most `limit` events. `names_of` gives the names a container identifier stands
/// for (its other forms); `judge` decides each event's authority.
pub async fn history<S: EventSource>(
    source: &S,
    names: Vec<String>,
    names_of: impl Fn(&str) -> Vec<String>,
    judge: Judge<'_>,
    limit: usize,
) -> Result<History<S::Payload>, HistoryError<S::Error>> {
    let (pool, judgement, left_out, followed, reached) =
        gather(source, &names, &names_of, judge, limit).await?;
    let marks = &judgement.marks;
    // State changes left out unread: judging without them is sound only for parties that, as
    // judged, have no authority over the item (their left-out changes could only be refused),
    // so no change of a party that has is ever left out (the gathering reads them in a further
    // round, or refuses). Observations weigh in no judgement.
    let reached: HashSet<&str> = reached.iter().flatten().map(String::as_str).collect();
    let parties = judge.parties();
    if !custodians_left_out(&pool, marks, left_out.iter(), &reached, parties).is_empty() {
        return Err(HistoryError::CustodianLeftOut { limit });
    }
    let (mut history, trimmed) = assemble(pool, &judgement, parties, names, &names_of, limit)
        .map_err(|limit| HistoryError::TooLong { limit })?;
    history.omitted = counted(left_out.into_iter().chain(trimmed));
    history.followed = followed;
    Ok(history)
}

/// The gathered events by leaf, their judgement (the authority of each, the events withdrawn),
/// the candidates left out unread, the names of every identifier asked about, and of those the
/// judgement reaches from the item ([`reached`]).
type Gathered<T> = (
    BTreeMap<LeafIndex, SourceEvent<T>>,
    authority::Judgement,
    Vec<Candidate>,
    Vec<Vec<String>>,
    HashSet<Vec<String>>,
);

/// The judgement of the `pool` as a bundle claims it: its marks (an event without a claim is an
/// observation), and the withdrawals it claims that its events bear out: the declaration is in
/// the pool, logged after the event, with the event's hash, and marked as one that stands
/// ([`authority::withdrawals`]). Without the registry, who acts for whom is taken as claimed.
fn claimed_judgement<T>(
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    claims: &Claims,
) -> authority::Judgement {
    let marks = &claims.marks;
    let withdrawn = claims
        .withdrawn
        .iter()
        .filter(|(declared, by)| {
            let (Some(event), Some(declaration)) = (pool.get(declared), pool.get(by)) else {
                return false;
            };
            authority::withdrawals([event, declaration], marks, |_, _| true).get(declared)
                == Some(by)
        })
        .map(|(declared, by)| (*declared, *by))
        .collect();
    authority::Judgement {
        withdrawn,
        marks: marks.clone(),
        spoken: HashSet::new(),
        // Nothing is judged again, so nothing rests on anything.
        rests_on: BTreeMap::new(),
        provenance: BTreeMap::new(),
        handed: BTreeSet::new(),
    }
}

/// An identifier the gathering asks its source about.
#[derive(Clone)]
struct Asked {
    names: Vec<String>,
    depth: usize,
    /// The item and its containers: the containers they were packed into are gathered too.
    follow_containers: bool,
    /// The item: the items a transformation relates it to are gathered too.
    follow_transformations: bool,
}

/// The events the history and the authority of its events may depend on, with that authority:
/// every event naming the item, and, through the events that relate it to others, the events of
/// every container it was packed into (recursively, up to [`MAX_CONTAINER_DEPTH`]) and of every
/// item a transformation relates it to (one step).
///
/// Gathered in rounds, each judged before the next: a relation is followed only when its reporter
/// spoke for the item's side of it ([`authority::assess_relations`]; as claimed, with
/// [`Judge::Claimed`], every relation is followed), so that a party without custody of an item
/// cannot make its history gather a container or an item of its choosing, however many events
/// those have. A round can show custody the previous ones could not (a container received by
/// another party), so rounds go on until one follows nothing new. Each round is one question to
/// the source, about all its new identifiers at once, so a request costs at most a few round
/// trips however many containers and items it follows; more than [`MAX_SUBJECTS`] identifiers
/// are refused before they are asked about. At most `limit` events are chosen a round, and
/// [`GATHER_FACTOR`] × `limit` gathered in all, chosen ([`choose`]) when more are candidates:
/// every state change that fits, observations shared out by reporter. When the state changes
/// alone were shared out, the left-out ones of each party the round's judgement shows had
/// authority are read in a further question (so a flood of refused changes cannot crowd a
/// custodian's own out), until the judgement shows no new such party; more than the gathering's
/// budget is refused. Then the left-out receipts that could settle a shipment
/// otherwise ([`receipts_left_out`]) and the claims that could bring an identifier into being
/// first ([`claims_left_out`]) are read within a budget of their own (the module's "Left-out
/// receipts and claims"), and judged again, until none is left to read.
async fn gather<S: EventSource>(
    source: &S,
    names: &[String],
    names_of: &impl Fn(&str) -> Vec<String>,
    judge: Judge<'_>,
    limit: usize,
) -> Result<Gathered<S::Payload>, HistoryError<S::Error>> {
    let total = limit.saturating_mul(GATHER_FACTOR);
    let mut left_out: BTreeMap<LeafIndex, Candidate> = BTreeMap::new();
    let mut pool: BTreeMap<LeafIndex, SourceEvent<S::Payload>> = BTreeMap::new();
    let mut seen: HashSet<Vec<String>> = HashSet::new();
    let mut asked: Vec<Asked> = Vec::new();
    let mut pending = vec![Asked {
        names: names.to_vec(),
        depth: 0,
        follow_containers: true,
        follow_transformations: true,
    }];
    let mut prunes = 0;
    let mut pruned: Option<Pruned<S::Payload>> = None;
    // The left-out receipts and claims read within their own budget ([`receipts_left_out`],
    // [`claims_left_out`]), apart from the gathering's, how many of each party's, and those the
    // budget passed over: read only with the room left once nothing more is found.
    let mut receipts = Receipts::default();
    loop {
        // The round's new identifiers, each once, asked about in one question.
        let round: Vec<Asked> = pending
            .drain(..)
            .filter(|subject| seen.insert(subject.names.clone()))
            .collect();
        if seen.len() > MAX_SUBJECTS {
            return Err(HistoryError::TooManySubjects {
                limit: MAX_SUBJECTS,
            });
        }
        let names: Vec<String> = round
            .iter()
            .flat_map(|subject| subject.names.iter().cloned())
            .collect();
        // No round takes more than a history holds (every event naming the item is in it), so
        // that one flooded container leaves room for the next.
        let most = limit.min(total.saturating_sub(receipts.counted(&pool)));
        let found = match names.is_empty() {
            // Judged again after a pruning ([`reached`]): nothing new to read.
            true => Found {
                events: Vec::new(),
                left_out: Vec::new(),
            },
            false => {
                let known = |leaf: LeafIndex| pool.contains_key(&leaf);
                match events_naming(source, &names, &known, most)
                    .await
                    .map_err(HistoryError::Source)?
                {
                    Ok(found) => found,
                    Err(Refused::Crowded) => return Err(HistoryError::Crowded { limit }),
                }
            }
        };
        // What the left-out budget passed over stays with it (counted, read only with the room
        // left at the end), unless this round read it after all.
        if !receipts.passed_over.is_empty() {
            let loaded: HashSet<LeafIndex> = found.events.iter().map(|e| e.leaf).collect();
            receipts.passed_over.retain(|c| !loaded.contains(&c.leaf));
        }
        found_again(&mut left_out, &mut receipts.passed_over, found.left_out);
        for event in found.events {
            // Read after all (it names another identifier too): not left out.
            left_out.remove(&event.leaf);
            pool.entry(event.leaf).or_insert(event);
        }
        if receipts.counted(&pool) > total {
            return Err(HistoryError::TooMany { limit: total });
        }
        asked.extend(round);
        // Which relations the events so far let the history follow, judged again after each
        // further read of a custodian's left-out state changes (each can show another party's
        // custody, whose left-out changes are then read too): a party that, as judged, had
        // authority over what the history follows has every state change read, within the
        // gathering's budget, or the history is refused.
        let (judgement, reached) = loop {
            let judgement = match judge {
                Judge::Parties(parties) => {
                    let relating: HashSet<&str> = asked
                        .iter()
                        .filter(|subject| subject.follow_containers)
                        .flat_map(|subject| subject.names.iter().map(String::as_str))
                        .collect();
                    authority::assess_relations(pool.values(), parties, |id| relating.contains(id))
                }
                Judge::Claimed(claimed) => claimed_judgement(&pool, claimed),
            };
            // Authority counts over what the history still reaches as judged: a relation the
            // first reads showed (a receipt the container's own events then refuse) gathers a
            // party's own container, whose events show it authorised, but over nothing of this
            // history's, and it cannot make the history read every change it wrote.
            let reached = reached(&pool, &asked, &spoke_for(judge, &judgement), names_of);
            let names: HashSet<&str> = reached.iter().flatten().map(String::as_str).collect();
            // A party the left-out budget passed over may prove a custodian since: its changes
            // are read like any custodian's.
            let further = custodians_left_out(
                &pool,
                &judgement.marks,
                left_out.values().chain(&receipts.passed_over),
                &names,
                judge.parties(),
            );
            if receipts.counted(&pool).saturating_add(further.len()) > total {
                return Err(HistoryError::CustodianLeftOut { limit });
            }
            // Once no custodian's change is left out, the receipts that could have settled a
            // shipment, or refused a transfer, otherwise, and the claims that could have brought
            // an identifier into being first, in a budget of their own (the module's "Left-out
            // receipts and claims"). A party flooding either is read no further than its share.
            let further = match (further.is_empty(), judge) {
                (true, Judge::Parties(parties)) => {
                    let found = matter(
                        &pool,
                        left_out.values(),
                        &names,
                        &asked,
                        &judgement,
                        parties,
                    );
                    let (read, passed) = receipts.choose(found, limit);
                    // Passed over: out of what is looked through again, until the gathering
                    // has found everything (below).
                    for candidate in passed {
                        left_out.remove(&candidate.leaf);
                        receipts.passed_over.push(candidate);
                    }
                    read
                }
                _ => further,
            };
            drop(names);
            if further.is_empty() {
                break (judgement, reached);
            }
            read_into(source, &asked, &further, &mut pool, &mut left_out).await?;
            if !receipts.passed_over.is_empty() {
                let further: HashSet<&LeafIndex> = further.iter().collect();
                receipts.passed_over.retain(|c| !further.contains(&c.leaf));
            }
        };
        // As claimed, a relation is followed unless its event is marked unauthorised: what the
        // writer of a bundle followed, a verifier without the registry follows too. Where events
        // were withdrawn, the writer also followed what they led to and what relating events its
        // first judgement authorised (the evidence that they may not be withdrawn), which a
        // verifier without the registry cannot tell apart: every relation is followed then.
        // Following more only reads more of the bundle's own events.
        let spoke = spoke_for(judge, &judgement);
        pending = related(&pool, &asked, &spoke, names_of);
        // Judged without what it left out, the history reaches a subject the pruning left out
        // again: those events are what refused the relation, which a verifier needs. They are
        // put back, and judged again, and nothing more is pruned.
        if let Some((subjects, events)) = pruned.take()
            && pending
                .iter()
                .any(|next| subjects.iter().any(|gone| gone.names == next.names))
        {
            drop(spoke);
            prunes = MAX_PRUNES;
            seen.extend(subjects.iter().map(|subject| subject.names.clone()));
            asked.extend(subjects);
            pool.extend(events.into_iter().map(|event| (event.leaf, event)));
            pending.clear();
            continue;
        }
        pending.retain(|next| !seen.contains(&next.names));
        if pending.is_empty() {
            // What only a relation judged otherwise since led to (a party's own container,
            // packed into by a receipt the container's events then refused) is not the
            // history's: a verifier, following what the events shown relate, never gathers it.
            // Left out with its events, and the rest judged again, a few times at most.
            // `reached` is what this judgement reaches: nothing was read or judged since.
            drop(spoke);
            if reached.len() < asked.len() && prunes < MAX_PRUNES {
                prunes += 1;
                let (kept, gone): (Vec<Asked>, Vec<Asked>) = asked
                    .into_iter()
                    .partition(|subject| reached.contains(&subject.names));
                asked = kept;
                seen.retain(|names| reached.contains(names));
                let names: HashSet<&str> = reached.iter().flatten().map(String::as_str).collect();
                let (kept, left): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut pool)
                    .into_iter()
                    .partition(|(_, event)| event_ids(&event.event).any(|id| names.contains(id)));
                pool = kept;
                pruned = Some((gone, left.into_values().collect()));
                continue;
            }
            // Now that the gathering has found everything it can, what the left-out budget
            // passed over (to keep room for parties found later) gets half the room left: those
            // that could still matter, shared out by party; then judged again. What those lead
            // to (a container followed, a custodian, a shipping naming new parties) still finds
            // the other half, and the next such pass half of what is left then.
            if let Judge::Parties(parties) = judge {
                let names: HashSet<&str> = reached.iter().flatten().map(String::as_str).collect();
                let mut found = matter(
                    &pool,
                    receipts.passed_over.iter(),
                    &names,
                    &asked,
                    &judgement,
                    parties,
                );
                drop(names);
                found.retain(|candidate| !pool.contains_key(&candidate.leaf));
                let further = receipts.leftover(found, limit);
                if !further.is_empty() {
                    read_into(source, &asked, &further, &mut pool, &mut left_out).await?;
                    continue;
                }
            }
            let followed = asked.into_iter().map(|subject| subject.names).collect();
            let left_out = left_out.into_values().chain(receipts.passed_over).collect();
            return Ok((pool, judgement, left_out, followed, reached));
        }
    }
}

/// The candidates of `left_out` that could still matter, once each: first the receipts that
/// could settle a shipment otherwise ([`receipts_left_out`]) and the claims of an identifier the
/// history asked about that could bring one into being first ([`claims_left_out`]), in leaf
/// order; then the claims of other identifiers only that could be first of one it did not ask
/// about, each party's read after its first ([`Mattering`]).
fn matter<'a, T>(
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    left_out: impl Iterator<Item = &'a Candidate> + Clone,
    reached: &HashSet<&str>,
    asked: &[Asked],
    judgement: &authority::Judgement,
    parties: &Parties,
) -> Mattering {
    let mut first = receipts_left_out(pool, left_out.clone(), reached, parties);
    let asked: HashSet<&str> = asked
        .iter()
        .flat_map(|subject| subject.names.iter().map(String::as_str))
        .collect();
    let (of_asked, mut then) =
        claims_left_out(pool, left_out, &asked, &judgement.withdrawn, parties);
    first.extend(of_asked);
    first.sort_unstable_by_key(|candidate| candidate.leaf);
    first.dedup_by_key(|candidate| candidate.leaf);
    then.retain(|candidate| {
        first
            .binary_search_by_key(&candidate.leaf, |c| c.leaf)
            .is_err()
    });
    Mattering { first, then }
}

/// The left-out candidates that could still matter ([`matter`]), in the order each party's are
/// read: all of its `first` before any of its `then`, each in log order, the parties shared out
/// as by [`share`]. Claims of identifiers the history did not ask about only (a party's packings
/// of the item into containers of its own) come `then`, so that however many a party logs, they
/// never take the place of its own receipt or claim of what was asked about found with them, in
/// its part or its share (what an earlier pass read still counts against its part).
#[derive(Debug, Default)]
struct Mattering {
    first: Vec<Candidate>,
    then: Vec<Candidate>,
}

impl Mattering {
    /// Keeps only the candidates `keep` says to, in both.
    fn retain(&mut self, keep: impl Fn(&Candidate) -> bool) {
        self.first.retain(&keep);
        self.then.retain(&keep);
    }
}

#[cfg(test)]
impl From<Vec<Candidate>> for Mattering {
    /// Candidates all read first.
    fn from(first: Vec<Candidate>) -> Self {
        Self {
            first,
            then: Vec::new(),
        }
    }
}

/// Loads the events at `leaves`, asked under every name of `asked`, into the `pool`: read, or
/// not naming what was asked after all, either way no longer `left_out`.
async fn read_into<S: EventSource>(
    source: &S,
    asked: &[Asked],
    leaves: &[LeafIndex],
    pool: &mut BTreeMap<LeafIndex, SourceEvent<S::Payload>>,
    left_out: &mut BTreeMap<LeafIndex, Candidate>,
) -> Result<(), HistoryError<S::Error>> {
    let names: Vec<String> = asked
        .iter()
        .flat_map(|subject| subject.names.iter().cloned())
        .collect();
    let events = source
        .load(&names, leaves)
        .await
        .map_err(HistoryError::Source)?;
    for leaf in leaves {
        left_out.remove(leaf);
    }
    for event in events {
        pool.entry(event.leaf).or_insert(event);
    }
    Ok(())
}

/// Adds the candidates a round `found` left out to those `left_out` before, or, for those the
/// left-out budget passed over, to those: a candidate found again by another identifier (the
/// case a packing of the item claims) claims what either finding says it claims
/// ([`Candidate::claim`], [`Candidate::other_claim`]).
fn found_again(
    left_out: &mut BTreeMap<LeafIndex, Candidate>,
    passed_over: &mut [Candidate],
    found: Vec<Candidate>,
) {
    let passed: HashMap<LeafIndex, usize> = (passed_over.iter())
        .enumerate()
        .map(|(at, candidate)| (candidate.leaf, at))
        .collect();
    for candidate in found {
        let (claim, other) = (candidate.claim, candidate.other_claim);
        let join = |known: &mut Candidate| {
            known.claim |= claim;
            known.other_claim |= other;
        };
        match passed.get(&candidate.leaf) {
            Some(&at) => join(&mut passed_over[at]),
            None => {
                left_out
                    .entry(candidate.leaf)
                    .and_modify(join)
                    .or_insert(candidate);
            }
        }
    }
}

/// What [`gather`]'s last pruning left out: its subjects and their events.
type Pruned<T> = (Vec<Asked>, Vec<SourceEvent<T>>);

/// How many times [`gather`] leaves out what its judgement no longer reaches, and judges again.
const MAX_PRUNES: usize = 4;

/// Whether a relating event's reporter spoke for an identifier of it, as `judgement` tells
/// ([`Judgement::spoken`](authority::Judgement::spoken)); as claimed, a relation is followed
/// unless its event is marked unauthorised: what the writer of a bundle followed, a verifier
/// without the registry follows too. Where events were withdrawn, the writer also followed what
/// they led to and what relating events its first judgement authorised (the evidence that they
/// may not be withdrawn), which a verifier without the registry cannot tell apart: every
/// relation is followed then. Following more only reads more of the bundle's own events.
fn spoke_for<'a>(
    judge: Judge<'a>,
    judgement: &'a authority::Judgement,
) -> impl Fn(LeafIndex, &str) -> bool + 'a {
    move |leaf: LeafIndex, id: &str| match judge {
        Judge::Parties(_) => judgement.spoken.contains(&(leaf, id.to_owned())),
        Judge::Claimed(claims) => {
            claims.marks.get(&leaf).is_none_or(Authority::counts) || !judgement.withdrawn.is_empty()
        }
    }
}

/// The names of the `asked` identifiers the history reaches from the first (its item) through
/// relations of the `pool`'s events that were spoken for (`spoke`), as [`related`] follows them.
fn reached<T>(
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    asked: &[Asked],
    spoke: &impl Fn(LeafIndex, &str) -> bool,
    names_of: &impl Fn(&str) -> Vec<String>,
) -> HashSet<Vec<String>> {
    let known: HashSet<&Vec<String>> = asked.iter().map(|subject| &subject.names).collect();
    let mut reached: HashSet<Vec<String>> = asked
        .first()
        .map(|subject| subject.names.clone())
        .into_iter()
        .collect();
    loop {
        let subjects: Vec<Asked> = asked
            .iter()
            .filter(|subject| reached.contains(&subject.names))
            .cloned()
            .collect();
        let before = reached.len();
        reached.extend(
            related(pool, &subjects, spoke, names_of)
                .into_iter()
                .map(|subject| subject.names)
                .filter(|names| known.contains(names)),
        );
        if reached.len() == before {
            return reached;
        }
    }
}

/// The leaves of the state changes `left_out` whose reporter, as `marks` judge the `pool`, had
/// authority over something the history follows (an authorised event of its naming an
/// identifier `reached` is in the pool), or was handed custody of it (the transferee of such an
/// event, [`transferee_of`]: a party whose custody no event of its own shows), or acts for
/// either (with the registry, `parties`): a judgement that left them unread might be wrong,
/// where one that leaves out changes of a party without authority is not (they could only be
/// refused). In leaf order.
fn custodians_left_out<'a, T>(
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    marks: &BTreeMap<LeafIndex, Authority>,
    left_out: impl Iterator<Item = &'a Candidate>,
    reached: &HashSet<&str>,
    parties: Option<&Parties>,
) -> Vec<LeafIndex> {
    let mut custodians: HashSet<OrganisationId> = HashSet::new();
    for event in pool.values() {
        if marks.get(&event.leaf) == Some(&Authority::Authorised)
            && event_ids(&event.event).any(|id| reached.contains(id))
        {
            custodians.extend(event.reporter.clone());
            custodians.extend(parties.and_then(|parties| transferee_of(&event.event, parties)));
        }
    }
    // Whether each reporter is or acts for one of them, once. (A delegate whose authorised
    // events were its principal's makes its own delegates read too: more than is needed, never
    // less.)
    let mut is: HashMap<&OrganisationId, bool> = HashMap::new();
    let mut leaves: Vec<LeafIndex> = left_out
        .filter(|candidate| candidate.changes)
        .filter(|candidate| {
            candidate.reporter.as_ref().is_some_and(|by| {
                *is.entry(by).or_insert_with(|| match parties {
                    Some(parties) => custodians
                        .iter()
                        .any(|custodian| parties.acts_for(by, custodian)),
                    None => custodians.contains(by),
                })
            })
        })
        .map(|candidate| candidate.leaf)
        .collect();
    leaves.sort_unstable();
    leaves
}

/// The receipts `left_out` of every party acting for one a shipping in the `pool` of an
/// identifier the history reaches names ([`shipped_to`]), or for its shipper (a return),
/// whatever the shipping is judged and whenever the receipt was logged: the first receipt logged
/// by such a party settles the shipment whatever the receipts' reporters are judged to hold, and
/// a shipment and such a receipt refuse a transfer backdated before both, so a share that left
/// one out can have judged another party's receipt or transfer (and all that rests on it)
/// otherwise. The receipt is what the tag tells ([`Tag::receipt`]), so nothing is loaded to
/// choose them. In leaf order.
fn receipts_left_out<'a, T>(
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    left_out: impl Iterator<Item = &'a Candidate>,
    reached: &HashSet<&str>,
    parties: &Parties,
) -> Vec<Candidate> {
    let mut named: BTreeSet<OrganisationId> = BTreeSet::new();
    for event in pool.values() {
        if let Some(to) = shipped_to(&event.event, parties)
            && event_ids(&event.event).any(|id| reached.contains(id))
        {
            named.extend(to);
            named.extend(event.reporter.clone());
        }
    }
    if named.is_empty() {
        return Vec::new();
    }
    // Whether each reporter acts for a named party (or one acts for it: a delegate shipped,
    // and the receipt is its principal's return), once.
    let mut may: HashMap<&OrganisationId, bool> = HashMap::new();
    let mut receipts: Vec<Candidate> = left_out
        .filter(|candidate| candidate.receipt)
        .filter(|candidate| {
            candidate.reporter.as_ref().is_some_and(|by| {
                *may.entry(by).or_insert_with(|| {
                    named
                        .iter()
                        .any(|party| parties.acts_for(by, party) || parties.acts_for(party, by))
                })
            })
        })
        .cloned()
        .collect();
    receipts.sort_unstable_by_key(|candidate| candidate.leaf);
    receipts
}

/// The claims `left_out` that could be the first logged to bring into being an identifier under
/// no registered company prefix that a state change of the `pool` names ([`claims`]:
/// commissioning it, producing it, packing into it): those logged before the first claim of it
/// the pool holds, or all of them when the pool holds none of one such identifier. Under no
/// registered prefix the first claim decides who brought the identifier into being, whoever is
/// judged to hold anything, and every state change naming it is judged on that (who holds it,
/// who may commission, pack into or recall it), so a share that left the first claim out (its
/// reporter's earlier events took its part) can have judged them otherwise. Identifiers are
/// taken as the events spell them, as the judgement keys them; events `withdrawn` count for
/// nothing, as in the judgement. Which a candidate claims is what its tag tells: one of the
/// identifiers the history `asked` about ([`Candidate::claim`]), which could be first of any of
/// them, or another ([`Candidate::other_claim`]), which could be first only of an identifier
/// not asked about (it would have been found by that one too); which exactly is learnt when it
/// is loaded, so a few more may be read than decide anything. Returns the claims of what was
/// asked about and those of others only, each in the order of `left_out`.
fn claims_left_out<'a, T>(
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    left_out: impl Iterator<Item = &'a Candidate>,
    asked: &HashSet<&str>,
    withdrawn: &BTreeMap<LeafIndex, LeafIndex>,
    parties: &Parties,
) -> (Vec<Candidate>, Vec<Candidate>) {
    let judged = || {
        pool.values()
            .filter(|event| event.reporter.is_some() && !withdrawn.contains_key(&event.leaf))
    };
    // The first claim the pool holds of each identifier (the pool is in leaf order).
    let mut first: HashMap<&str, LeafIndex> = HashMap::new();
    for event in judged() {
        for id in authority::claimed(&event.event) {
            first.entry(id).or_insert(event.leaf);
        }
    }
    // Which claims could be first of an identifier that matters, and which claims of others
    // could be first of one not asked about.
    let (mut of_any, mut of_unasked) = (Claimable::default(), Claimable::default());
    let mut unregistered: HashMap<&str, bool> = HashMap::new();
    for event in judged().filter(|event| changes_state(&event.event)) {
        for id in event_ids(&event.event) {
            let matters = *unregistered
                .entry(id)
                .or_insert_with(|| parties.owner_of(id).is_none());
            if matters {
                let first = first.get(id).copied();
                of_any.widen(first);
                if !asked.contains(id) {
                    of_unasked.widen(first);
                }
            }
        }
        if of_any.any && of_unasked.any {
            break;
        }
    }
    let (mut of_asked, mut of_others) = (Vec::new(), Vec::new());
    for candidate in left_out.filter(|candidate| candidate.reporter.is_some()) {
        if candidate.claim && of_any.admits(candidate.leaf) {
            of_asked.push(candidate.clone());
        } else if candidate.other_claim && of_unasked.admits(candidate.leaf) {
            of_others.push(candidate.clone());
        }
    }
    (of_asked, of_others)
}

/// Which left-out claims could be the first of an identifier ([`claims_left_out`]): those
/// logged before the latest first claim the pool holds of one, or any when the pool holds none
/// of one.
#[derive(Debug, Clone, Copy, Default)]
struct Claimable {
    before: Option<LeafIndex>,
    any: bool,
}

impl Claimable {
    /// Counts an identifier whose first claim in the pool is `first`, if any.
    fn widen(&mut self, first: Option<LeafIndex>) {
        match first {
            Some(leaf) => self.before = self.before.max(Some(leaf)),
            None => self.any = true,
        }
    }

    /// Whether a claim at `leaf` could be first.
    fn admits(self, leaf: LeafIndex) -> bool {
        self.any || self.before.is_some_and(|before| leaf < before)
    }
}

/// How many parts of the left-out receipts' (and claims') budget one party's may take at most
/// ([`Receipts::choose`]): however early a flooding party's are found, those of the parties
/// found after it still have room.
const RECEIPT_SHARES: usize = 4;

/// The left-out receipts and claims a gathering read within their own budget
/// ([`receipts_left_out`], [`claims_left_out`]; the module's "Left-out receipts and claims"), how
/// many of each party's, and those it passed over (still left out, counted in
/// [`History::omitted`], looked through again only once the gathering has found everything:
/// [`Receipts::leftover`]).
#[derive(Default)]
struct Receipts {
    read: HashSet<LeafIndex>,
    by: HashMap<Option<OrganisationId>, usize>,
    passed_over: Vec<Candidate>,
}

impl Receipts {
    /// How many events of the `pool` count against the gathering's budget: those not read as
    /// left-out receipts or claims.
    fn counted<T>(&self, pool: &BTreeMap<LeafIndex, SourceEvent<T>>) -> usize {
        let receipts = self
            .read
            .iter()
            .filter(|leaf| pool.contains_key(leaf))
            .count();
        pool.len().saturating_sub(receipts)
    }

    /// Which of the `found` receipts and claims to read, within a budget of `limit` for the whole
    /// gathering: each party's first in log order, its [`Mattering::first`] before its
    /// [`Mattering::then`], no party more than a [`RECEIPT_SHARES`]th of it, shared out by party
    /// ([`share`]) where more are left than it holds. Returns those to read, in leaf order, and
    /// those passed over.
    fn choose(
        &mut self,
        found: impl Into<Mattering>,
        limit: usize,
    ) -> (Vec<LeafIndex>, Vec<Candidate>) {
        let Mattering { first, then } = found.into();
        let later: HashSet<LeafIndex> = then.iter().map(|candidate| candidate.leaf).collect();
        let cap = limit.div_ceil(RECEIPT_SHARES);
        let mut within = Vec::with_capacity(first.len() + then.len());
        let mut over = Vec::new();
        for candidate in first.into_iter().chain(then) {
            let taken = self.by.entry(candidate.reporter.clone()).or_default();
            if *taken < cap {
                *taken += 1;
                within.push(candidate);
            } else {
                over.push(candidate);
            }
        }
        let room = limit.saturating_sub(self.read.len());
        let (read, passed) = share_ranked(within, room, |c| later.contains(&c.leaf));
        for candidate in &passed {
            if let Some(taken) = self.by.get_mut(&candidate.reporter) {
                *taken = taken.saturating_sub(1);
            }
        }
        over.extend(passed);
        self.read.extend(read.iter().copied());
        (read, over)
    }

    /// Which of those passed over to read once the gathering has found everything it can: those
    /// `found` still to matter, shared out by party ([`share`]) in half of what is left of the
    /// budget of `limit` (rounded up), no party capped, each party's [`Mattering::first`] before
    /// its [`Mattering::then`]: the other half is kept for what reading them leads to. In leaf
    /// order.
    fn leftover(&mut self, found: Mattering, limit: usize) -> Vec<LeafIndex> {
        let room = limit.saturating_sub(self.read.len()).div_ceil(2);
        let Mattering { mut first, then } = found;
        if room == 0 || (first.is_empty() && then.is_empty()) {
            return Vec::new();
        }
        let later: HashSet<LeafIndex> = then.iter().map(|candidate| candidate.leaf).collect();
        first.extend(then);
        let (read, _) = share_ranked(first, room, |c| later.contains(&c.leaf));
        self.passed_over
            .retain(|candidate| read.binary_search(&candidate.leaf).is_err());
        self.read.extend(read.iter().copied());
        read
    }
}

/// What the gathered events relate the `asked` identifiers to, through relations their side was
/// spoken for in (`spoke`): the containers they were packed into, and, for the item, the outputs
/// of a transformation that consumed it and the inputs of one that produced it. One pass over
/// the events, whatever the number of identifiers.
fn related<T>(
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    asked: &[Asked],
    spoke: &impl Fn(LeafIndex, &str) -> bool,
    names_of: &impl Fn(&str) -> Vec<String>,
) -> Vec<Asked> {
    // Each name by the identifier first asked about under it (the shallowest).
    let mut by_name: HashMap<&str, &Asked> = HashMap::new();
    for subject in asked {
        for name in &subject.names {
            by_name.entry(name.as_str()).or_insert(subject);
        }
    }
    let by_name = &by_name;
    let mut next = Vec::new();
    // An error declaration relates nothing: it repeats the event it declares.
    let relating = pool
        .values()
        .filter(|event| !event.event.contains_key("errorDeclaration"));
    for event in relating {
        // The asked identifiers an event lists in `member` and was spoken for there, if `wanted`.
        let spoken_in = |member: &'static str, wanted: fn(&Asked) -> bool| {
            text_list(&event.event, member).filter_map(move |id| {
                let subject = by_name.get(id).copied()?;
                (wanted(subject) && spoke(event.leaf, id)).then_some(subject)
            })
        };
        if is_aggregation(&event.event)
            && matches!(action(&event.event), Some("ADD" | "OBSERVE"))
            && let Some(parent) = event.event.get("parentID").and_then(Value::as_str)
        {
            let packed =
                |subject: &Asked| subject.follow_containers && subject.depth < MAX_CONTAINER_DEPTH;
            next.extend(spoken_in("childEPCs", packed).map(|subject| Asked {
                names: names_of(parent),
                depth: subject.depth + 1,
                follow_containers: true,
                follow_transformations: false,
            }));
        }
        if event.event.get("type").and_then(Value::as_str) == Some("TransformationEvent") {
            let transforms = |subject: &Asked| subject.follow_transformations;
            // Consumed: the outputs are related; produced: the inputs are.
            let sides = [
                ("inputEPCList", "outputEPCList"),
                ("outputEPCList", "inputEPCList"),
            ];
            for (side, other) in sides {
                for subject in spoken_in(side, transforms) {
                    next.extend(
                        text_list(&event.event, other)
                            .filter(|id| !subject.names.iter().any(|name| name == id))
                            .map(|id| Asked {
                                names: vec![id.to_owned()],
                                depth: 1,
                                follow_containers: false,
                                follow_transformations: false,
                            }),
                    );
                }
            }
        }
    }
    next
}

/// The history from the gathered events: windows, containers and transformations from the
/// events that count only. When more than `limit` events belong to it, those [`trim`] keeps stay
/// and the rest are left out, with the candidates left out: a verifier judging the events kept
/// judges as the service did. `Err(limit)` when more than `limit` state changes belong to it
/// that the judgement rests on.
fn assemble<T>(
    mut pool: BTreeMap<LeafIndex, SourceEvent<T>>,
    judgement: &authority::Judgement,
    parties: Option<&Parties>,
    names: Vec<String>,
    names_of: &impl Fn(&str) -> Vec<String>,
    limit: usize,
) -> Result<(History<T>, Vec<Candidate>), usize> {
    let marks = &judgement.marks;
    // Only authorised events (and observations) shape the history, none an error declaration
    // withdrew, and no error declaration does: it repeats the declared event, it does not pack
    // or transform again.
    let counts = |event: &SourceEvent<T>| {
        marks.get(&event.leaf).is_none_or(Authority::counts)
            && !judgement.withdrawn.contains_key(&event.leaf)
            && !event.event.contains_key("errorDeclaration")
    };
    let mut found: BTreeMap<LeafIndex, Vec<Why>> = BTreeMap::new();
    let mut seen: HashSet<(Vec<String>, Window)> = HashSet::new();
    let mut queue = vec![Subject {
        names,
        window: Window::ALWAYS,
        why: Why::Direct,
        depth: 0,
        follow_containers: true,
    }];
    while let Some(subject) = queue.pop() {
        if !seen.insert((subject.names.clone(), subject.window)) {
            continue;
        }
        let named = |event: &&SourceEvent<T>| {
            event_ids(&event.event).any(|id| subject.names.iter().any(|name| name == id))
        };
        let events: Vec<&SourceEvent<T>> = pool.values().filter(named).collect();
        let effective: Vec<&SourceEvent<T>> = events
            .iter()
            .copied()
            .filter(|event| counts(event))
            .collect();
        let window = match &subject.why {
            // A container's history for the item ends where the container was unpacked.
            Why::Container { .. } => unpacked(&effective, &subject.names, subject.window),
            _ => subject.window,
        };
        if subject.why == Why::Direct {
            queue.extend(transformed(&effective, &subject.names));
        }
        if subject.follow_containers && subject.depth < MAX_CONTAINER_DEPTH {
            for (container, span) in containers(&effective, &subject.names) {
                if let Some(span) = span.intersect(window) {
                    queue.push(Subject {
                        names: names_of(&container),
                        window: span,
                        why: Why::Container { container },
                        depth: subject.depth + 1,
                        follow_containers: true,
                    });
                }
            }
        }
        for event in events {
            if !window.contains(event.time) {
                continue;
            }
            let why = found.entry(event.leaf).or_default();
            if !why.contains(&subject.why) {
                why.push(subject.why.clone());
            }
        }
    }
    let trimmed = match found.len() > limit {
        true => {
            let (kept, trimmed) = trim(&found, &pool, judgement, parties, limit).ok_or(limit)?;
            // Left out of the context too: the events a bundle shows are all a verifier judges.
            found.retain(|leaf, _| kept.contains(leaf));
            pool.retain(|leaf, _| kept.contains(leaf));
            trimmed
        }
        false => Vec::new(),
    };
    // The events are moved out of the pool into the history, not copied.
    let mut events: Vec<HistoryEvent<T>> = found
        .into_iter()
        .filter_map(|(leaf, mut why)| {
            why.sort();
            let event = pool.remove(&leaf)?;
            let authority = marks.get(&leaf).cloned().unwrap_or(Authority::Observation);
            Some(HistoryEvent {
                event,
                why,
                authority,
            })
        })
        .collect();
    events.sort_by_key(|e| (e.event.time, e.event.leaf));
    // What the judgement also rested on: the gathered events outside the history that change
    // some item's state (observations change nothing anyone's authority depends on); the rest
    // are outside it.
    let (mut context, mut outside): (Vec<HistoryEvent<T>>, Vec<HistoryEvent<T>>) = pool
        .into_values()
        .map(|event| HistoryEvent::marked(event, marks))
        .partition(|event| authority::changes_state(&event.event.event));
    context.sort_by_key(|e| (e.event.time, e.event.leaf));
    outside.sort_by_key(|e| (e.event.time, e.event.leaf));
    // The withdrawals of the events shown.
    let shown: HashSet<LeafIndex> = [&events, &context, &outside]
        .into_iter()
        .flatten()
        .map(|shown| shown.event.leaf)
        .collect();
    let withdrawn = judgement
        .withdrawn
        .iter()
        .filter(|(leaf, by)| shown.contains(leaf) && shown.contains(by))
        .map(|(leaf, by)| (*leaf, *by))
        .collect();
    let history = History {
        events,
        context,
        outside,
        withdrawn,
        ..History::default()
    };
    Ok((history, trimmed))
}

/// Which of the `pool`'s events a history of at most `limit` `found` events shows, with those
/// it leaves out: every authorised state change (what the history and its custody rest on),
/// and of the unauthorised ones and the observations each reporter's share ([`share`]), so
/// that a party flooding an item with changes it had no right to make is shared out like any
/// flood, never makes the history unanswerable. The events gathered outside the history (its
/// context) are all shown, but for those without authority whose marks rest on an event left
/// out.
///
/// A refused change can still weigh in the judgement of others (a receipt logged first settles
/// a hand-over, whoever sent it; a first claim to an unregistered identifier holds), and a
/// verifier judges the events kept alone. So what each mark rests on
/// ([`authority::Judgement::rests_on`]) is kept with it: with an authorised change, always;
/// with any other event, or that event is left out too. The events kept are then judged
/// again: those of them (neither authorised changes nor what those rest on) whose mark comes
/// out otherwise are left out too, and the rest judged again, up to [`REJUDGEMENTS`] times.
/// When only events that must stay come out otherwise (a mark can rest on a hand-over the first
/// pass did *not* find because of an event left out), what must stay is first judged with its
/// context and no share of the rest; failing that, the first pass's hand-overs' events left out
/// are put back, with what they rest on, and kept like authorised changes: first the hand-overs
/// from a party with authority (one of their events an authorised change), without the
/// provenance of what they cite, then with it, then every one. Should a mark still come out
/// otherwise, every state change is kept instead. `None` when those are more than `limit`.
fn trim<T>(
    found: &BTreeMap<LeafIndex, Vec<Why>>,
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    judgement: &authority::Judgement,
    parties: Option<&Parties>,
    limit: usize,
) -> Option<(HashSet<LeafIndex>, Vec<Candidate>)> {
    let marks = &judgement.marks;
    // The relating events the gathering followed stay too: a verifier gathers what they lead to
    // only through them.
    let followed: HashSet<LeafIndex> = judgement.spoken.iter().map(|(leaf, _)| *leaf).collect();
    let authorised = |event: &SourceEvent<T>| {
        followed.contains(&event.leaf)
            || (authority::changes_state(&event.event)
                && marks.get(&event.leaf) == Some(&Authority::Authorised))
    };
    // The events gathered outside the history (the context) are shown whatever the limit: those
    // with authority, and what they rest on, stay like authorised changes. A refused one stays
    // only with what it rests on: left without, it could be judged otherwise, and a party could
    // make it rest on as many events as it writes.
    let mut required = resting_closure(
        pool.values()
            .filter(|event| authorised(event))
            .map(|event| event.leaf),
        pool,
        judgement,
    );
    let context = pool.keys().filter(|leaf| !found.contains_key(leaf));
    let with_context = |(mut kept, trimmed): (HashSet<LeafIndex>, Vec<Candidate>),
                        basis: &authority::Judgement| {
        kept.extend(context.clone().copied());
        without_unfounded(kept, trimmed, pool, basis)
    };
    let chosen = trim_keeping(found, pool, limit, |event: &SourceEvent<T>| {
        required.contains(&event.leaf)
    });
    if let Some(chosen) = chosen {
        let (mut kept, mut trimmed) = with_context(chosen, judgement);
        let Some(parties) = parties else {
            return Some((kept, trimmed));
        };
        // A mark can rest on more than its checks cite: a hand-over found in the first pass
        // over the events exists only because of the events that gave its giver custody then,
        // which the final judgement may refuse. So the events kept are judged again, and those
        // of the rest (never an authorised change, nor one shown anyway) whose mark reads
        // otherwise are left out too, with what rests on them, a few times over.
        let mut handed_back = PutBack::Nothing;
        // What a trial of the put-back without provenance leaves out by: the judgement, less it.
        let lenient = std::cell::OnceCell::new();
        let mut basis = judgement;
        for round in 0..=REJUDGEMENTS + 2 {
            let differing = judged_otherwise(&kept, pool, judgement, parties);
            if differing.is_empty() {
                return Some((kept, trimmed));
            }
            if round == REJUDGEMENTS + 2 {
                break;
            }
            // Those that need not stay are left out first: a share of a party's events can
            // hold half a chain of hand-overs, which judged alone hands over where the whole
            // did not, and makes what must stay read otherwise too.
            let (must_stay, differing): (Vec<LeafIndex>, Vec<LeafIndex>) = differing
                .into_iter()
                .partition(|leaf| required.contains(leaf) || !kept.contains(leaf));
            if differing.is_empty() && !must_stay.is_empty() {
                // What must stay, with no share of the rest, can judge alike where a share
                // could not (a share's event cited in place of one left out); tried before
                // anything is put back.
                let bare = found.keys().filter(|leaf| required.contains(leaf)).count();
                if let Some(chosen) = trim_keeping(found, pool, bare, |event: &SourceEvent<T>| {
                    required.contains(&event.leaf)
                }) {
                    let (bare_kept, bare_trimmed) = with_context(chosen, basis);
                    if bare_kept != kept
                        && judged_otherwise(&bare_kept, pool, judgement, parties).is_empty()
                    {
                        return Some((bare_kept, bare_trimmed));
                    }
                }
                // A mark that must stay reads otherwise: a hand-over the first pass found in
                // the events left out (a refused receipt, say) can be all it rested on, its
                // absence all that made it authorised. The hand-overs' events left out are put
                // back, with what they rest on: first those that took what they hand over from
                // a party with authority (one of their events is an authorised change), which
                // parties without any cannot multiply, and at first without what gave the
                // giver of each hand-over they cite its custody (a chain of round trips that
                // ends where it began gives nothing, yet is all provenance); then with it;
                // then, should a mark still differ, all.
                let mut back = HashSet::new();
                while back.iter().all(|leaf| required.contains(leaf)) {
                    handed_back = match handed_back {
                        PutBack::Nothing => PutBack::Cited,
                        PutBack::Cited => PutBack::FromAuthority,
                        PutBack::FromAuthority => PutBack::All,
                        PutBack::All => break,
                    };
                    basis = match handed_back {
                        PutBack::Cited => lenient.get_or_init(|| authority::Judgement {
                            provenance: BTreeMap::new(),
                            ..judgement.clone()
                        }),
                        _ => judgement,
                    };
                    let from_authority = |events: &&[LeafIndex; 2]| {
                        events.iter().any(|leaf| {
                            pool.get(leaf).is_some_and(|event| {
                                authority::changes_state(&event.event)
                                    && marks.get(leaf) == Some(&Authority::Authorised)
                            })
                        })
                    };
                    back = resting_closure(
                        judgement
                            .handed
                            .iter()
                            .filter(|events| handed_back == PutBack::All || from_authority(events))
                            .flatten()
                            .copied()
                            .filter(|leaf| pool.contains_key(leaf) && !kept.contains(leaf)),
                        pool,
                        basis,
                    );
                }
                if back.iter().all(|leaf| required.contains(leaf)) {
                    break;
                }
                required.extend(back);
                let Some(chosen) = trim_keeping(found, pool, limit, |event: &SourceEvent<T>| {
                    required.contains(&event.leaf)
                }) else {
                    break;
                };
                (kept, trimmed) = with_context(chosen, basis);
                continue;
            }
            for leaf in differing {
                kept.remove(&leaf);
                trimmed.extend(pool.get(&leaf).map(Candidate::of));
            }
            (kept, trimmed) = without_unfounded(kept, trimmed, pool, basis);
        }
    }
    trim_keeping(found, pool, limit, |event: &SourceEvent<T>| {
        authority::changes_state(&event.event)
    })
    .map(|chosen| with_context(chosen, judgement))
}

/// How many times [`trim`] leaves out the events it kept that were judged otherwise, judging
/// those left again each time, before it keeps every state change instead.
const REJUDGEMENTS: usize = 4;

/// Which of the first pass's hand-overs left out [`trim`] has put back so far.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PutBack {
    Nothing,
    /// Those with an authorised change among their events, with what they rest on but not the
    /// provenance of the hand-overs that cites.
    Cited,
    /// Those with an authorised change among their events.
    FromAuthority,
    /// Every one.
    All,
}

/// The events `kept` (those of the `pool` shown) whose mark or withdrawal, judged among those
/// alone, reads otherwise than in `judgement`.
fn judged_otherwise<T>(
    kept: &HashSet<LeafIndex>,
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    judgement: &authority::Judgement,
    parties: &Parties,
) -> Vec<LeafIndex> {
    let shown = pool.values().filter(|event| kept.contains(&event.leaf));
    let again = authority::assess_relations(shown, parties, |_| false);
    again
        .marks
        .iter()
        .filter(|(leaf, authority)| {
            judgement.marks.get(leaf) != Some(authority)
                || again.withdrawn.get(leaf) != judgement.withdrawn.get(leaf)
        })
        .map(|(leaf, _)| *leaf)
        .collect()
}

/// `leaves` and, of the `pool`'s events, every one their marks rest on, and so on: what an event
/// reached that way rests on includes its hand-over's provenance
/// ([`authority::Judgement::provenance`]); what one of `leaves` rests on does not.
fn resting_closure<T>(
    leaves: impl IntoIterator<Item = LeafIndex>,
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    judgement: &authority::Judgement,
) -> HashSet<LeafIndex> {
    let mut closure: HashSet<LeafIndex> = HashSet::new();
    let mut cited: HashSet<LeafIndex> = HashSet::new();
    // Each leaf with whether a mark rests on it.
    let mut pending: Vec<(LeafIndex, bool)> =
        leaves.into_iter().map(|leaf| (leaf, false)).collect();
    while let Some((leaf, rested_on)) = pending.pop() {
        let (rests, gave) = (closure.insert(leaf), rested_on && cited.insert(leaf));
        let supports = [(rests, &judgement.rests_on), (gave, &judgement.provenance)];
        pending.extend(
            supports
                .into_iter()
                .filter_map(|(follow, supports)| follow.then(|| supports.get(&leaf)).flatten())
                .flatten()
                .filter(|support| pool.contains_key(support))
                .map(|support| (*support, true)),
        );
    }
    closure
}

/// `kept` less every event whose mark rests on an event of the `pool` not kept, or on the events
/// of a hand-over whose provenance ([`authority::Judgement::provenance`]) was not kept, and so
/// on, those added to the events left out: judged without what it rests on, its mark could read
/// otherwise. An event whose hand-over's provenance is left out stays itself (its own mark does
/// not rest on it); what rests on it goes.
///
/// Walks who rests on what backwards, once, from the events left out: linear in the citations,
/// however long a chain of events resting on one another a party writes.
fn without_unfounded<T>(
    mut kept: HashSet<LeafIndex>,
    mut trimmed: Vec<Candidate>,
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    judgement: &authority::Judgement,
) -> (HashSet<LeafIndex>, Vec<Candidate>) {
    // For each support: the kept events resting on it, and the events whose hand-over it gave.
    let mut resting: HashMap<LeafIndex, Vec<LeafIndex>> = HashMap::new();
    for (leaf, cited) in judgement
        .rests_on
        .iter()
        .filter(|(leaf, _)| kept.contains(leaf))
    {
        for cited in cited.iter().filter(|cited| pool.contains_key(cited)) {
            resting.entry(*cited).or_default().push(*leaf);
        }
    }
    let mut handed: HashMap<LeafIndex, Vec<LeafIndex>> = HashMap::new();
    for (leaf, gained) in &judgement.provenance {
        for gained in gained.iter().filter(|gained| pool.contains_key(gained)) {
            handed.entry(*gained).or_default().push(*leaf);
        }
    }
    // The events without footing: left out, or a hand-over resting on one.
    let mut unfounded: HashSet<LeafIndex> = resting
        .keys()
        .chain(handed.keys())
        .filter(|support| !kept.contains(support))
        .copied()
        .collect();
    let mut pending: Vec<LeafIndex> = unfounded.iter().copied().collect();
    while let Some(support) = pending.pop() {
        for leaf in resting.get(&support).into_iter().flatten() {
            if kept.remove(leaf) {
                trimmed.extend(pool.get(leaf).map(Candidate::of));
                if unfounded.insert(*leaf) {
                    pending.push(*leaf);
                }
            }
        }
        for leaf in handed.get(&support).into_iter().flatten() {
            if unfounded.insert(*leaf) {
                pending.push(*leaf);
            }
        }
    }
    (kept, trimmed)
}

/// [`trim`] keeping every event `required` accepts, and each reporter's share of the others.
fn trim_keeping<T>(
    found: &BTreeMap<LeafIndex, Vec<Why>>,
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    limit: usize,
    required: impl Fn(&SourceEvent<T>) -> bool,
) -> Option<(HashSet<LeafIndex>, Vec<Candidate>)> {
    let (required, optional): (Vec<&SourceEvent<T>>, Vec<&SourceEvent<T>>) = found
        .keys()
        .filter_map(|leaf| pool.get(leaf))
        .partition(|event| required(event));
    let room = limit.checked_sub(required.len())?;
    let candidates = optional.into_iter().map(Candidate::of).collect();
    let (shared, trimmed) = share(candidates, room);
    let kept = required
        .into_iter()
        .map(|event| event.leaf)
        .chain(shared)
        .collect();
    Some((kept, trimmed))
}

/// Every identifier an event names: its EPC lists (`epcList`, `childEPCs`, `inputEPCList`,
/// `outputEPCList`) and its `parentID`.
pub fn event_ids(event: &Map<String, Value>) -> impl Iterator<Item = &str> {
    ["epcList", "childEPCs", "inputEPCList", "outputEPCList"]
        .into_iter()
        .flat_map(|member| text_list(event, member))
        .chain(event.get("parentID").and_then(Value::as_str))
}

/// The names a container identifier stands for: its other forms when it is an item identifier
/// (an EPC URI and its canonical Digital Link), else itself.
pub fn names_of(id: &str) -> Vec<String> {
    match Item::parse(id) {
        Ok(item) if item.names.iter().any(|name| name == id) => item.names,
        _ => vec![id.to_owned()],
    }
}

/// Events held in memory, each at its leaf index: the events of a provenance bundle, say.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    events: Vec<SourceEvent<usize>>,
}

impl Memory {
    /// Events in any order; each carries its position in `events` as its payload.
    pub fn new(events: impl IntoIterator<Item = SourceEvent<()>>) -> Self {
        let events = events
            .into_iter()
            .enumerate()
            .map(|(position, event)| event.carrying(position))
            .collect();
        Self { events }
    }
}

impl Memory {
    /// The events at `leaves`.
    fn at<'a>(&'a self, leaves: &[LeafIndex]) -> impl Iterator<Item = &'a SourceEvent<usize>> {
        let leaves: HashSet<LeafIndex> = leaves.iter().copied().collect();
        self.events.iter().filter(move |e| leaves.contains(&e.leaf))
    }
}

impl EventSource for Memory {
    type Error = std::convert::Infallible;
    type Payload = usize;

    async fn candidates(
        &self,
        names: &[String],
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
    ) -> Result<Vec<Candidate>, Self::Error> {
        Ok(self
            .events
            .iter()
            .filter(|e| !known(e.leaf))
            .filter(|e| event_ids(&e.event).any(|id| names.iter().any(|name| name == id)))
            .map(|e| Candidate::naming(e, names))
            .collect())
    }

    async fn load(
        &self,
        _names: &[String],
        leaves: &[LeafIndex],
    ) -> Result<Vec<SourceEvent<usize>>, Self::Error> {
        // The candidates name them exactly.
        Ok(self.at(leaves).cloned().collect())
    }
}

/// The history of the item named by `names` among events held in memory ([`history`] over
/// [`Memory`], with no runtime: its answers are always ready). `None` only if the history has
/// more than `limit` events.
pub fn in_memory(
    source: &Memory,
    names: Vec<String>,
    judge: Judge<'_>,
    limit: usize,
) -> Option<History<usize>> {
    let future = std::pin::pin!(history(source, names, names_of, judge, limit));
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(events)) => Some(events),
        // Pending cannot happen: the memory source answers at once and nothing else waits.
        Poll::Ready(Err(_)) | Poll::Pending => None,
    }
}

/// The reasons of one event of `history` as a provenance bundle writes them: a transformation by
/// the `transformationID` of its event (when it has one), which is in the history too.
pub fn bundle_whys<T>(event: &HistoryEvent<T>, history: &[HistoryEvent<T>]) -> Vec<BundleWhy> {
    event
        .why
        .iter()
        .map(|why| match why {
            Why::Direct => BundleWhy::Direct,
            Why::Container { container } => BundleWhy::Container {
                container: container.clone(),
            },
            Why::Transformation {
                via,
                transformation,
            } => BundleWhy::Transformation {
                via: via.clone(),
                transformation: history
                    .iter()
                    .find(|event| event.event.leaf == *transformation)
                    .and_then(|event| event.event.event.get("transformationID"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
        })
        .collect()
}

pub(crate) fn text_list<'a>(
    event: &'a Map<String, Value>,
    member: &str,
) -> impl Iterator<Item = &'a str> {
    event
        .get(member)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn is_aggregation(event: &Map<String, Value>) -> bool {
    event.get("type").and_then(Value::as_str) == Some("AggregationEvent")
}

fn action(event: &Map<String, Value>) -> Option<&str> {
    event.get("action").and_then(Value::as_str)
}

/// The containers `names` were packed into, each with the span it was inside: from an `ADD` or
/// `OBSERVE` naming it a child of a parent, until a `DELETE` naming it a child of that parent or
/// an `ADD`/`OBSERVE` into another parent.
fn containers<T>(events: &[&SourceEvent<T>], names: &[String]) -> Vec<(String, Window)> {
    let named = |id: &str| names.iter().any(|name| name == id);
    let mut moves: Vec<(i128, LeafIndex, &str, bool)> = events
        .iter()
        .filter(|e| is_aggregation(&e.event))
        .filter(|e| text_list(&e.event, "childEPCs").any(named))
        .filter_map(|e| {
            let parent = e.event.get("parentID")?.as_str()?;
            let into = match action(&e.event)? {
                "ADD" | "OBSERVE" => true,
                "DELETE" => false,
                _ => return None,
            };
            Some((e.time, e.leaf, parent, into))
        })
        .collect();
    moves.sort_by_key(|&(time, leaf, _, _)| (time, leaf));
    let mut spans = Vec::new();
    let mut inside: Option<(&str, i128)> = None;
    for (time, _, parent, into) in moves {
        match (inside, into) {
            (Some((current, _)), true) if current == parent => {}
            (Some((current, from)), true) => {
                spans.push((current.to_owned(), Window { from, until: time }));
                inside = Some((parent, time));
            }
            (None, true) => inside = Some((parent, time)),
            (Some((current, from)), false) if current == parent => {
                // The DELETE itself belongs to the span.
                let until = time.saturating_add(1);
                spans.push((current.to_owned(), Window { from, until }));
                inside = None;
            }
            (_, false) => {}
        }
    }
    if let Some((current, from)) = inside {
        spans.push((
            current.to_owned(),
            Window {
                from,
                until: i128::MAX,
            },
        ));
    }
    spans
}

/// The window cut after the first `DELETE` of the container with no children listed (everything
/// unpacked) at or after its start.
fn unpacked<T>(events: &[&SourceEvent<T>], container: &[String], window: Window) -> Window {
    let unpack = events
        .iter()
        .filter(|e| is_aggregation(&e.event) && action(&e.event) == Some("DELETE"))
        .filter(|e| {
            e.event
                .get("parentID")
                .and_then(Value::as_str)
                .is_some_and(|parent| container.iter().any(|name| name == parent))
        })
        .filter(|e| text_list(&e.event, "childEPCs").next().is_none())
        .map(|e| e.time)
        .filter(|&time| time >= window.from)
        .min();
    match unpack {
        Some(time) => Window {
            from: window.from,
            until: window.until.min(time.saturating_add(1)),
        },
        None => window,
    }
}

/// The items related to `names` through TransformationEvents, one step: the outputs of a
/// transformation that consumed it, from then on; the inputs of one that produced it, until then.
fn transformed<T>(events: &[&SourceEvent<T>], names: &[String]) -> Vec<Subject> {
    let named = |id: &str| names.iter().any(|name| name == id);
    let mut related = Vec::new();
    for event in events.iter().copied() {
        if event.event.get("type").and_then(Value::as_str) != Some("TransformationEvent") {
            continue;
        }
        let consumed = text_list(&event.event, "inputEPCList").any(named);
        let produced = text_list(&event.event, "outputEPCList").any(named);
        let mut relate = |member: &str, window: Window| {
            for id in text_list(&event.event, member).filter(|id| !named(id)) {
                related.push(Subject {
                    names: vec![id.to_owned()],
                    window,
                    why: Why::Transformation {
                        via: id.to_owned(),
                        transformation: event.leaf,
                    },
                    depth: 1,
                    follow_containers: false,
                });
            }
        };
        if consumed {
            relate(
                "outputEPCList",
                Window {
                    from: event.time,
                    until: i128::MAX,
                },
            );
        }
        if produced {
            relate(
                "inputEPCList",
                Window {
                    from: i128::MIN,
                    until: event.time.saturating_add(1),
                },
            );
        }
    }
    related
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests;
