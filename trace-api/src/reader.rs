//! What the service reads of the ledger, as of one signed checkpoint: every answer is about the
//! tree of that checkpoint, so every proof in it leads to a checkpoint that was published. On a
//! replica that has not caught up, that is the newest checkpoint the replica holds: the answer is
//! older, never unprovable.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use ledger::bundle::AnchoredCheckpoint;
use ledger::record::Attestation;
use ledger::size::{LeafIndex, TreeSize};
use ledger_store::{
    Declarations, LiveRuns, Lookup, ReadError, Reader, StoredAnchor, StoredCheckpoint, StoredEntry,
};

use ledger::history::{Candidate, EventSource, Parties, SourceEvent, Tag, event_ids};

use crate::budget::AnswerBudget;
use crate::lane::Lane;

/// The ledger as of one checkpoint.
#[derive(Debug, Clone)]
pub struct View {
    pub store: Reader,
    pub checkpoint: Arc<StoredCheckpoint>,
    /// How far the lookups reached when the view was taken (they only grow).
    pub indexed: u64,
    /// The lookup runs live when the view was taken (reaching `indexed`), and how far the error
    /// declarations went then: with them, what the store keeps answers without a query. Only
    /// [`View::latest`] reads them.
    pub snapshot: Option<(LiveRuns, Declarations)>,
    /// The newest confirmed anchored checkpoint within the view's tree, the consistency proof
    /// from it to the view's checkpoint, and its anchors: what every bundle of this view carries
    /// (read once per view, not per request). Only [`View::latest`] reads it: [`View::at`] serves
    /// history pages, which carry no proofs, and leaves it `None`.
    pub anchored: Option<Arc<AnchoredCheckpoint>>,
    /// Where the rows that do not verify are reported.
    pub refused: Arc<RefusedEvidence>,
}

/// The newest view, reused for a short while: most requests need no query to learn the newest
/// checkpoint. Views only move forwards.
#[derive(Debug)]
pub struct ViewCache {
    refresh: std::time::Duration,
    current: std::sync::Mutex<Option<(std::time::Instant, View)>>,
    counts: ledger_store::CacheCounter,
    /// The evidence rows views would not serve.
    pub refused: Arc<RefusedEvidence>,
}

/// Rows of evidence read and not served because they do not verify, with why: anchor rows (by
/// id; as of the newest reading) and error declarations (by declaring leaf; once refused, always:
/// the table is append-only). Each is logged once at error level (a row that does not verify was
/// written by something other than the service that owns the table), counted
/// (`trace_evidence_refused`) and named by readiness.
#[derive(Debug, Default)]
pub struct RefusedEvidence {
    anchors: std::sync::Mutex<BTreeMap<i64, String>>,
    declarations: std::sync::Mutex<BTreeMap<u64, String>>,
}

impl RefusedEvidence {
    /// The error declarations refused so far (by declaring leaf), and why.
    pub fn declarations(&self) -> Vec<(u64, String)> {
        self.declarations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(leaf, why)| (*leaf, why.clone()))
            .collect()
    }

    fn refuse_declaration(&self, leaf: u64, why: String) {
        let mut refused = self
            .declarations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        refused.entry(leaf).or_insert_with(|| {
            tracing::error!(
                declaration = leaf,
                reason = %why,
                "an error declaration row does not match the log: it is not served"
            );
            why
        });
    }

    /// The anchor rows refused by the newest reading, and why.
    pub fn anchors(&self) -> Vec<(i64, String)> {
        self.lock()
            .iter()
            .map(|(id, why)| (*id, why.clone()))
            .collect()
    }

    /// What the newest reading refused: logs the rows not refused before.
    fn replace(&self, refused: BTreeMap<i64, String>) {
        let mut current = self.lock();
        for (id, why) in &refused {
            if current.get(id) != Some(why) {
                tracing::error!(
                    anchor = id,
                    reason = %why,
                    "an anchor row does not verify: it is not served (bundles carry the newest anchor that does)"
                );
            }
        }
        *current = refused;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, String>> {
        self.anchors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ViewCache {
    /// A cache that reads the newest checkpoint again when its view is older than `refresh`.
    pub fn new(refresh: std::time::Duration) -> Self {
        Self {
            refresh,
            current: std::sync::Mutex::new(None),
            counts: ledger_store::CacheCounter::default(),
            refused: Arc::new(RefusedEvidence::default()),
        }
    }

    /// How often the newest view was reused.
    pub fn counts(&self) -> ledger_store::CacheCounts {
        self.counts.counts()
    }

    /// The newest view, from the cache if it is fresh enough.
    pub async fn latest(&self, store: &Reader) -> Result<View, ViewError> {
        let now = std::time::Instant::now();
        if let Some((at, view)) = &*self.lock()
            && now.saturating_duration_since(*at) < self.refresh
        {
            self.counts.count(true);
            return Ok(view.clone());
        }
        self.counts.count(false);
        let view = View::latest(store, self.refused.clone()).await?;
        let mut current = self.lock();
        // Another request may have read a newer one meanwhile: keep the larger (of two of one
        // size, the one whose index covers more: an idle log's checkpoint signed again).
        let newer = current
            .as_ref()
            .is_none_or(|(_, cached)| cached.newness() <= view.newness());
        if newer {
            *current = Some((now, view.clone()));
        }
        Ok(view)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(std::time::Instant, View)>> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why the ledger could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Checkpoint(#[from] ledger_store::CheckpointStoreError),
    #[error("the ledger has no signed checkpoint yet")]
    NoCheckpoint,
    #[error(transparent)]
    Proof(#[from] ledger_store::ProofError),
    #[error(transparent)]
    Budget(#[from] crate::budget::Exceeded),
    #[error(transparent)]
    Lane(#[from] crate::lane::LaneFailed),
}

impl View {
    /// The ledger as of its newest checkpoint (one query, and one for its anchored checkpoint);
    /// the anchor rows that do not verify go to `refused`.
    pub async fn latest(store: &Reader, refused: Arc<RefusedEvidence>) -> Result<Self, ViewError> {
        let view = store.reader_view().await?;
        let checkpoint = view.checkpoint.ok_or(ViewError::NoCheckpoint)?;
        Ok(Self {
            store: store.clone(),
            anchored: anchored(store, checkpoint.size, &refused).await?,
            refused,
            checkpoint: Arc::new(checkpoint),
            indexed: view.runs.end(),
            snapshot: Some((view.runs, view.declarations)),
        })
    }

    /// The ledger as of the checkpoint of `size` entries, if one was signed, for a history page:
    /// without its anchored checkpoint.
    pub async fn at(
        store: &Reader,
        size: TreeSize,
        refused: Arc<RefusedEvidence>,
    ) -> Result<Option<Self>, ViewError> {
        let Some(checkpoint) = store.checkpoint(size).await? else {
            return Ok(None);
        };
        Ok(Some(Self {
            store: store.clone(),
            anchored: None,
            refused,
            checkpoint: Arc::new(checkpoint),
            indexed: store.indexed_through().await?,
            snapshot: None,
        }))
    }

    /// The checkpoint's tree size.
    pub fn size(&self) -> TreeSize {
        self.checkpoint.size
    }

    /// How new its checkpoint is: its tree size, then the size of the index it commits to.
    fn newness(&self) -> (u64, u64) {
        let index = ledger_store::commitment_of_note(&self.checkpoint.note)
            .map_or(0, |index| index.size.get());
        (self.checkpoint.size.get(), index)
    }

    /// Whether the checkpoint's tree holds `leaf`.
    pub fn holds(&self, leaf: LeafIndex) -> bool {
        leaf.get() < self.size().get()
    }

    /// The leaves of the checkpoint's tree whose events may name one of `names`, found through
    /// the lookups and, for entries they did not cover when the view was taken, a scan, but
    /// those `known` says the caller holds; in leaf order, counted against `budget` as
    /// [`candidates_by`](Self::candidates_by) counts them. Nothing is loaded: the lookups may
    /// count a few that turn out not to name them ([`entries_naming`](Self::entries_naming)
    /// leaves those out).
    pub async fn candidates_naming(
        &self,
        names: &[String],
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
        budget: &AnswerBudget,
    ) -> Result<Vec<LeafIndex>, ViewError> {
        let lookups: Vec<Lookup<'_>> = names
            .iter()
            .flat_map(|name| [Lookup::Epc(name), Lookup::Parent(name)])
            .collect();
        let texts: Vec<&str> = names.iter().map(String::as_str).collect();
        self.candidates_by(&lookups, &texts, known, budget).await
    }

    /// The leaves of the checkpoint's tree whose events may name one of `names`, as
    /// [`candidates_naming`](Self::candidates_naming) finds them, but those `known` says the
    /// caller holds: those the lookups found, each with its tag ([`Tag`]: who reported it and
    /// whether it changes state), and those a scan of the entries the lookups did not cover
    /// found, with their event text. Each in leaf order. At most `most` pairs are read from
    /// the lookups (`None` when more name them: a flood of one item costs each lookup of it a
    /// bounded read).
    pub async fn tagged_naming(
        &self,
        names: &[String],
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
        most: usize,
    ) -> Result<Option<(Vec<(LeafIndex, Tag)>, Vec<(LeafIndex, String)>)>, ViewError> {
        let lookups: Vec<Lookup<'_>> = names
            .iter()
            .flat_map(|name| [Lookup::Epc(name), Lookup::Parent(name)])
            .collect();
        let runs = self.snapshot.as_ref().map(|(runs, _)| runs);
        let Some(mut tagged) = self
            .store
            .lookup_tagged_within(&lookups, runs, Some(most))
            .await?
        else {
            return Ok(None);
        };
        tagged.retain(|&(leaf, _)| self.holds(leaf) && !known(leaf));
        let mut scanned = Vec::new();
        if self.indexed < self.size().get() {
            let texts: Vec<&str> = names.iter().map(String::as_str).collect();
            scanned = self
                .store
                .scan_texts_for(&texts, self.indexed..self.size().get())
                .await?;
            scanned.retain(|(leaf, _)| {
                self.holds(*leaf)
                    && !known(*leaf)
                    && tagged.binary_search_by_key(leaf, |&(l, _)| l).is_err()
            });
        }
        Ok(Some((tagged, scanned)))
    }

    /// The leaves of the checkpoint's tree that `lookups` find, and, among the entries the
    /// lookups did not cover when the view was taken, those whose event text contains one of
    /// `texts` (a scan); but those `known` says the caller holds; in leaf order. Candidates:
    /// check the events. The lookup reads no more candidates than what `budget` has left would
    /// hold (24 bytes each), stopping a few pages past it: a key named by millions of entries
    /// costs a bounded read, then the answer is over its budget. The candidates are not
    /// charged to it (they are gone when the caller has its events, and a caller asks again
    /// for each page or hop).
    pub async fn candidates_by(
        &self,
        lookups: &[Lookup<'_>],
        texts: &[&str],
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
        budget: &AnswerBudget,
    ) -> Result<Vec<LeafIndex>, ViewError> {
        let runs = self.snapshot.as_ref().map(|(runs, _)| runs);
        let most = budget.left() / LOOKUP_PAIR_BYTES;
        let Some(tagged) = self
            .store
            .lookup_tagged_within(lookups, runs, Some(most))
            .await?
        else {
            return Err(budget.over().into());
        };
        let mut leaves: Vec<LeafIndex> = tagged.into_iter().map(|(leaf, _)| leaf).collect();
        // The runs only grow: what they did not cover when the view was taken is scanned.
        if self.indexed < self.size().get() {
            leaves.extend(
                self.store
                    .scan_for(texts, self.indexed..self.size().get())
                    .await?,
            );
        }
        leaves.retain(|&leaf| self.holds(leaf) && !known(leaf));
        leaves.sort_unstable();
        leaves.dedup();
        Ok(leaves)
    }

    /// Who attested each of `leaves` (from their leaf records alone), to choose among them
    /// before loading any event. Read 256 leaves at a time, each batch counted against
    /// `budget` as it is read (at least 256 bytes a leaf): what is held at once is one
    /// batch's rows, and an answer over its byte budget stops.
    pub async fn attestations(
        &self,
        leaves: &[LeafIndex],
        budget: &AnswerBudget,
    ) -> Result<Vec<(LeafIndex, Attestation)>, ViewError> {
        let mut attested = Vec::with_capacity(leaves.len());
        for batch in leaves.chunks(ATTESTATION_BATCH) {
            let (mut read, bytes) = self.store.attestations(batch).await?;
            budget.take(bytes.max(batch.len() * RECORD_BYTES)).await?;
            attested.append(&mut read);
        }
        Ok(attested)
    }

    /// The entries at `leaves` whose events name one of `names` (exactly), each with its event
    /// parsed. They are loaded a batch at a time against `budget` (`load_counted`), and so are
    /// the entries that declare them erroneous.
    pub async fn entries_naming(
        &self,
        names: &[String],
        leaves: &[LeafIndex],
        budget: &AnswerBudget,
        lane: &Lane,
    ) -> Result<Vec<(StoredEntry, Map<String, Value>)>, ViewError> {
        let names = names.to_vec();
        self.entries_where(leaves, budget, lane, move |event| {
            event_ids(event).any(|id| names.iter().any(|name| name == id))
        })
        .await
    }

    /// The entries at `leaves` whose events `keep` keeps, each with its event parsed, loaded
    /// as [`entries_naming`](Self::entries_naming) loads them (an entry whose event text does
    /// not parse is [`ReadError::Corrupt`]).
    pub async fn entries_where(
        &self,
        leaves: &[LeafIndex],
        budget: &AnswerBudget,
        lane: &Lane,
        keep: impl Fn(&Map<String, Value>) -> bool + Send + 'static,
    ) -> Result<Vec<(StoredEntry, Map<String, Value>)>, ViewError> {
        self.entries_then(leaves, budget, lane, 1, move |entry, event| {
            keep(&event).then_some((entry, event))
        })
        .await
    }

    /// The entries at `leaves`, each with its event parsed given to `then`, which keeps what it
    /// returns (an event that does not parse is [`ReadError::Corrupt`]): the parsing and `then`
    /// together are done on the slow lane for a large answer, their work counted as `weight`
    /// times the events' bytes.
    pub async fn entries_then<T: Send + 'static>(
        &self,
        leaves: &[LeafIndex],
        budget: &AnswerBudget,
        lane: &Lane,
        weight: usize,
        then: impl Fn(StoredEntry, Map<String, Value>) -> Option<T> + Send + 'static,
    ) -> Result<Vec<T>, ViewError> {
        // Ingest stores only events that parse: one that does not was changed behind the
        // ledger's back, and left out it would make a shorter story told as the whole one.
        let kept = self
            .stored_then(
                leaves,
                budget,
                lane,
                weight,
                move |entry| match serde_json::from_str::<Map<String, Value>>(&entry.event) {
                    Ok(event) => then(entry, event).map(Ok),
                    Err(_) => Some(Err(entry.leaf_index)),
                },
            )
            .await?;
        kept.into_iter().collect::<Result<_, _>>().map_err(|leaf| {
            ReadError::Corrupt {
                what: "entry",
                reason: format!("entry {leaf}: its stored event is not JSON"),
            }
            .into()
        })
    }

    /// The entries at `leaves`, each given to `then` as stored (its event's text unparsed), which
    /// keeps what it returns: done on the slow lane for a large answer, its work counted as
    /// `weight` times the events' bytes.
    pub async fn stored_then<T: Send + 'static>(
        &self,
        leaves: &[LeafIndex],
        budget: &AnswerBudget,
        lane: &Lane,
        weight: usize,
        then: impl Fn(StoredEntry) -> Option<T> + Send + 'static,
    ) -> Result<Vec<T>, ViewError> {
        let declarations = self
            .snapshot
            .as_ref()
            .map(|(_, declarations)| *declarations);
        let mut entries = self.load_counted(leaves, declarations, budget).await?;
        self.check_declarations(&mut entries, declarations, budget)
            .await?;
        // Parsing grows with the events' bytes: a large answer's is done on the slow lane.
        let bytes = entries.iter().map(|entry| entry.event.len()).sum();
        lane.run_weighed(bytes, weight, move || {
            entries.into_iter().filter_map(then).collect()
        })
        .await
        .map_err(ViewError::Lane)
    }
}

/// What an entry's leaf record and bookkeeping are counted as, beside its event text.
pub(crate) const RECORD_BYTES: usize = 256;

/// What one candidate a lookup found counts against an answer's budget: its pair's bytes.
const LOOKUP_PAIR_BYTES: usize = 24;

/// How many leaves' attestations are read at once.
const ATTESTATION_BATCH: usize = 256;

/// How many anchored sizes, newest first, are tried for one whose anchors verify.
const ANCHORED_TRIES: usize = 4;

impl View {
    /// Keeps of each entry's error declarations those this view serves: within its tree, and
    /// whose declaring entry in the log is an error declaration of that very event (its leaf
    /// record commits to the same event hash, and its stored event, which the record binds,
    /// carries `errorDeclaration`). `error_declarations` is written by ingest's role; a row it
    /// did not write that way is refused, never shown. A declaration appended after the view's
    /// checkpoint is left for a later view.
    async fn check_declarations(
        &self,
        entries: &mut [StoredEntry],
        declarations: Option<Declarations>,
        budget: &AnswerBudget,
    ) -> Result<(), ViewError> {
        // An entry the table calls a declaration must be one in the log.
        for entry in entries.iter_mut() {
            if entry.declares.is_some() && !declares_an_error(entry) {
                self.refused.refuse_declaration(
                    entry.leaf_index.get(),
                    format!(
                        "entry {} carries no errorDeclaration its record binds",
                        entry.leaf_index
                    ),
                );
                entry.declares = None;
            }
        }
        let mut declaring: Vec<LeafIndex> = entries
            .iter()
            .flat_map(|entry| entry.declared_by.iter().copied())
            .filter(|&leaf| self.holds(leaf))
            .collect();
        if declaring.is_empty() {
            for entry in entries.iter_mut() {
                entry.declared_by.clear();
            }
            return Ok(());
        }
        declaring.sort_unstable();
        declaring.dedup();
        // The declaring entries count against the answer's budget like the others: a party that
        // declares one event erroneous many times cannot make its answers load them unbounded.
        let found: std::collections::HashMap<u64, StoredEntry> = self
            .load_counted(&declaring, declarations, budget)
            .await?
            .into_iter()
            .map(|entry| (entry.leaf_index.get(), entry))
            .collect();
        for entry in entries.iter_mut() {
            let declared = entry.record.event_hash();
            entry.declared_by.retain(|&leaf| {
                if !self.holds(leaf) {
                    return false;
                }
                let why = match found.get(&leaf.get()) {
                    // Not for a leaf the view holds (`load_counted` refuses a lost one): kept
                    // so that no declaration is taken on trust whatever the store answers.
                    None => Some(format!("the log has no entry {leaf}")),
                    Some(declaring) if declaring.record.event_hash() != declared => Some(format!(
                        "entry {leaf} is not a declaration of entry {}: it commits to another event hash",
                        entry.leaf_index
                    )),
                    Some(declaring) if !declares_an_error(declaring) => Some(format!(
                        "entry {leaf} carries no errorDeclaration its record binds"
                    )),
                    Some(_) => None,
                };
                match why {
                    Some(why) => {
                        self.refused.refuse_declaration(leaf.get(), why);
                        false
                    }
                    None => true,
                }
            });
        }
        Ok(())
    }
}

impl View {
    /// The entries at `leaves`, loaded a batch at a time: each batch's worst case reserved of the
    /// shared budget before it is loaded, then settled to what it holds (so what answers hold
    /// never exceeds the budget, and an answer over its own learns it after one batch). A leaf
    /// of the view's tree the store gives no entry for is [`ReadError::Corrupt`].
    async fn load_counted(
        &self,
        leaves: &[LeafIndex],
        declarations: Option<Declarations>,
        budget: &AnswerBudget,
    ) -> Result<Vec<StoredEntry>, ViewError> {
        let mut entries = Vec::with_capacity(leaves.len());
        for batch in leaves.chunks(budget.batch_len()) {
            let reserved = budget.reserve(batch.len()).await?;
            let loaded = self.store.entries_as_of(batch, declarations).await?;
            // Every entry of the view's tree has its row, written with it and never deleted: one
            // the store does not give was lost or withheld, and an answer without it would be a
            // shorter story told as the whole one.
            if let Some(lost) = batch.iter().find(|&&leaf| {
                self.holds(leaf)
                    && loaded
                        .binary_search_by_key(&leaf, |entry| entry.leaf_index)
                        .is_err()
            }) {
                return Err(ReadError::Corrupt {
                    what: "entry",
                    reason: format!(
                        "entry {lost} is in the log's tree of {} entries, and the store holds \
                         no event for it",
                        self.size()
                    ),
                }
                .into());
            }
            let bytes = loaded
                .iter()
                .map(|entry| entry.event.len() + RECORD_BYTES)
                .sum();
            budget.settle(reserved, bytes).await?;
            entries.extend(loaded);
        }
        Ok(entries)
    }
}

/// Whether a stored entry is an error declaration as its record commits to it: its event carries
/// `errorDeclaration`, and the record binds the stored event text (or, for a version 1 record,
/// binds the hash only, which the caller compared).
fn declares_an_error(entry: &StoredEntry) -> bool {
    use ledger::record::EventBinding;
    let bound = matches!(
        entry.binding(),
        EventBinding::Exact | EventBinding::HashOnly
    );
    bound
        && serde_json::from_str::<Map<String, Value>>(&entry.event)
            .is_ok_and(|event| event.contains_key("errorDeclaration"))
}

/// The newest confirmed anchored checkpoint within the tree of `size` leaves whose anchors verify
/// (`anchor_verify::verify::check_stored`: the receipt proof against the row's block hash, and the
/// event against the log's own checkpoint of that size; of a size's checkpoints, the one with the
/// larger index first, then the other), with only those anchors and the
/// consistency proof from its tree to that one (from the smaller to the larger: equal sizes give
/// an empty one). The rows that do not verify are never served and go to `refused`.
async fn anchored(
    store: &Reader,
    size: TreeSize,
    refused: &RefusedEvidence,
) -> Result<Option<Arc<AnchoredCheckpoint>>, ViewError> {
    let mut refusals = BTreeMap::new();
    let mut within = size;
    for _ in 0..ANCHORED_TRIES {
        let Some(stored) = store.newest_anchored(within).await? else {
            break;
        };
        refusals.extend(stored.refused);
        // The log's checkpoints of that size, the larger index first: the first with an anchor
        // that verifies is carried.
        let notes = std::iter::once((stored.checkpoint, stored.anchors)).chain(
            stored
                .others
                .into_iter()
                .map(|other| (other.checkpoint, other.anchors)),
        );
        for (checkpoint, stored_anchors) in notes {
            let mut anchors = Vec::with_capacity(stored_anchors.len());
            for StoredAnchor { id, anchor } in stored_anchors {
                match anchor_verify::verify::check_stored(&anchor, &checkpoint) {
                    Ok(()) => anchors.push(anchor),
                    Err(why) => {
                        refusals.insert(id, why);
                    }
                }
            }
            if !anchors.is_empty() {
                refused.replace(refusals);
                let consistency = store.consistency_proof(stored.size, size).await?;
                return Ok(Some(Arc::new(AnchoredCheckpoint {
                    checkpoint,
                    consistency,
                    anchors,
                })));
            }
        }
        // Nothing anchored at that size can be served: the next older anchored checkpoint.
        let smaller = stored.size.get().saturating_sub(1);
        match TreeSize::new(smaller) {
            Ok(smaller) if smaller.get() > 0 => within = smaller,
            _ => break,
        }
    }
    refused.replace(refusals);
    Ok(None)
}

/// Whether an event changes state, is a receipt, claims one of the identifiers a history asked
/// about, and claims anything else ([`ledger::history::Candidate`]).
type Kinds = (bool, bool, bool, bool);

/// The [`Kinds`] of an entry whose text does not parse: a state change, never left out for an
/// observation, and no receipt and no claim.
const UNKNOWN_KINDS: Kinds = (true, false, false, false);

/// A view's events with who reported each, as the history reads them.
#[derive(Debug, Clone, Copy)]
pub struct ViewSource<'a> {
    pub view: &'a View,
    /// Who each entry's device or site reports for.
    pub parties: &'a Parties,
    /// What the answer may load.
    pub budget: &'a AnswerBudget,
    /// Where large answers parse their events.
    pub lane: &'a Lane,
}

impl EventSource for ViewSource<'_> {
    type Error = ViewError;
    type Payload = Arc<StoredEntry>;

    /// The candidates with who reported each, whether it changes state and whether it is a
    /// receipt, from the lookups' tags: what the lookup read counts against the answer's budget
    /// (24 bytes a candidate) before any is loaded, so that however many events name an item,
    /// choosing among them costs at most that budget and no entry's record. The few entries the lookups did not
    /// cover yet are told apart by their text (read by the scan that found them, and counted
    /// against the budget) and their records.
    async fn candidates(
        &self,
        names: &[String],
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
    ) -> Result<Vec<Candidate>, ViewError> {
        // What the answer may still load, in lookup pairs: no more are read (an item flooded
        // with millions of events is refused after a bounded read).
        let most = self.budget.left() / LOOKUP_PAIR_BYTES;
        let Some((tagged, scanned)) = self.view.tagged_naming(names, known, most).await? else {
            return Err(self.budget.over().into());
        };
        self.budget
            .take(tagged.len().saturating_mul(LOOKUP_PAIR_BYTES))
            .await?;
        let mut candidates: Vec<Candidate> = tagged
            .into_iter()
            .map(|(leaf, tag)| Candidate::tagged(leaf, tag, self.parties))
            .collect();
        self.budget
            .take(scanned.iter().map(|(_, text)| text.len()).sum())
            .await?;
        // Whether each changes state, whether it is a receipt, whether it claims one of the
        // `names` and whether it claims anything else, as the lookup pairs under them would.
        let kinds: BTreeMap<LeafIndex, Kinds> = scanned
            .iter()
            .map(|(leaf, text)| {
                // A text that does not parse counts as a state change: never left out for an
                // observation (and as no receipt and no claim, as the lookups' tags have it).
                let event = serde_json::from_str::<Map<String, Value>>(text).ok();
                let kind = event.map_or(UNKNOWN_KINDS, |event| {
                    let (claim, other_claim) = ledger::history::claims_among(&event, names);
                    (
                        ledger::history::changes_state(&event),
                        ledger::history::receives(&event),
                        claim,
                        other_claim,
                    )
                });
                (*leaf, kind)
            })
            .collect();
        let leaves: Vec<LeafIndex> = kinds.keys().copied().collect();
        let attested = self.view.attestations(&leaves, self.budget).await?;
        candidates.extend(attested.into_iter().map(|(leaf, attestation)| {
            let (changes, receipt, claim, other_claim) =
                kinds.get(&leaf).copied().unwrap_or(UNKNOWN_KINDS);
            Candidate {
                leaf,
                reporter: self.parties.reporter(&attestation).cloned(),
                changes,
                receipt,
                claim,
                other_claim,
            }
        }));
        Ok(candidates)
    }

    async fn load(
        &self,
        names: &[String],
        leaves: &[LeafIndex],
    ) -> Result<Vec<SourceEvent<Arc<StoredEntry>>>, ViewError> {
        let entries = self
            .view
            .entries_naming(names, leaves, self.budget, self.lane)
            .await?;
        Ok(entries
            .into_iter()
            .map(|(entry, event)| {
                // Ingest validated eventTime; an entry without one sorts first.
                SourceEvent::of(
                    entry.leaf_index,
                    event,
                    self.parties.reporter(entry.record.attestation()).cloned(),
                    Some(entry.record.captured_at()),
                )
                .bound_by(&entry.record)
                .carrying(Arc::new(entry))
            })
            .collect())
    }
}
