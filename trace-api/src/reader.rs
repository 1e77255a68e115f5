//! What the service reads of the ledger, as of one signed checkpoint: every answer is about the
//! tree of that checkpoint, so every proof in it leads to a checkpoint that was published. On a
//! replica that has not caught up, that is the newest checkpoint the replica holds: the answer is
//! older, never unprovable.

use std::sync::Arc;

use serde_json::{Map, Value};

use ledger::size::{LeafIndex, TreeSize};
use ledger_store::{Lookup, ReadError, Store, StoredCheckpoint, StoredEntry};

use crate::history::{EventSource, SourceEvent};
use crate::item::Item;

/// The ledger as of one checkpoint.
#[derive(Debug, Clone)]
pub struct View {
    pub store: Store,
    pub checkpoint: Arc<StoredCheckpoint>,
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
}

impl View {
    /// The ledger as of its newest checkpoint.
    pub async fn latest(store: &Store) -> Result<Self, ViewError> {
        let checkpoint = store
            .latest_checkpoint()
            .await?
            .ok_or(ViewError::NoCheckpoint)?;
        Ok(Self {
            store: store.clone(),
            checkpoint: Arc::new(checkpoint),
        })
    }

    /// The ledger as of the checkpoint of `size` entries, if one was signed.
    pub async fn at(store: &Store, size: TreeSize) -> Result<Option<Self>, ViewError> {
        Ok(store.checkpoint(size).await?.map(|checkpoint| Self {
            store: store.clone(),
            checkpoint: Arc::new(checkpoint),
        }))
    }

    /// The checkpoint's tree size.
    pub fn size(&self) -> TreeSize {
        self.checkpoint.size
    }

    /// Whether the checkpoint's tree holds `leaf`.
    pub fn holds(&self, leaf: LeafIndex) -> bool {
        leaf.get() < self.size().get()
    }

    /// The entries of the checkpoint's tree whose events name one of `names` (exactly), found
    /// through the lookups and, for entries they do not cover yet, a scan.
    pub async fn entries_naming(&self, names: &[String]) -> Result<Vec<StoredEntry>, ViewError> {
        let lookups: Vec<Lookup<'_>> = names
            .iter()
            .flat_map(|name| [Lookup::Epc(name), Lookup::Parent(name)])
            .collect();
        let mut leaves = self.store.lookup_any(&lookups).await?;
        // The runs only grow: what they did not cover when asked is scanned.
        let indexed = self.store.indexed_through().await?;
        let names_text: Vec<&str> = names.iter().map(String::as_str).collect();
        if indexed < self.size().get() {
            leaves.extend(
                self.store
                    .scan_for(&names_text, indexed..self.size().get())
                    .await?,
            );
        }
        leaves.retain(|&leaf| self.holds(leaf));
        leaves.sort_unstable();
        leaves.dedup();
        let entries = self.store.entries(&leaves).await?;
        Ok(entries
            .into_iter()
            .filter(|entry| names_event(&entry.event, names))
            .collect())
    }
}

/// Whether an event's JSON names one of `names` in its EPC lists or as its `parentID`.
fn names_event(event: &str, names: &[String]) -> bool {
    let Ok(event) = serde_json::from_str::<Map<String, Value>>(event) else {
        return false;
    };
    event_ids(&event).any(|id| names.iter().any(|name| name == id))
}

/// Every identifier an event names: its EPC lists and its `parentID`.
pub fn event_ids(event: &Map<String, Value>) -> impl Iterator<Item = &str> {
    ["epcList", "childEPCs", "inputEPCList", "outputEPCList"]
        .into_iter()
        .filter_map(|member| event.get(member).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .chain(event.get("parentID").and_then(Value::as_str))
}

impl EventSource for View {
    type Error = ViewError;
    type Payload = Arc<StoredEntry>;

    async fn events_naming(
        &self,
        names: &[String],
    ) -> Result<Vec<SourceEvent<Arc<StoredEntry>>>, ViewError> {
        let entries = self.entries_naming(names).await?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let event: Map<String, Value> = serde_json::from_str(&entry.event).ok()?;
                // Ingest validated eventTime; an entry without one sorts first.
                let time = SourceEvent::<()>::event_time(&event).unwrap_or(i128::MIN);
                Some(SourceEvent {
                    leaf: entry.leaf_index,
                    event,
                    time,
                    payload: Arc::new(entry),
                })
            })
            .collect())
    }
}

/// The names a container identifier stands for: its other forms when it is an item identifier,
/// else itself.
pub fn names_of(id: &str) -> Vec<String> {
    match Item::parse(id) {
        Ok(item) if item.names.iter().any(|name| name == id) => item.names,
        _ => vec![id.to_owned()],
    }
}
