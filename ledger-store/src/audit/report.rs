//! What an audit is asked to do ([`AuditOptions`]), where it reports its progress
//! ([`AuditProgress`]) and what it answers ([`AuditReport`]).

use super::problem::AuditProblem;

/// What the audit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// Recompute every event's CBV 2.0 hash from its stored JSON (the slow part). Without it the
    /// event JSON is not even read: only leaves, tiles, batches and checkpoints are checked.
    pub recompute_event_hashes: bool,
    /// Threads that recompute event hashes besides the checking thread (0: the checking thread
    /// does it too).
    pub hashing_threads: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            recompute_event_hashes: true,
            hashing_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Receives the audit's progress, in entries.
pub trait AuditProgress: Send + Sync {
    /// The audit of `entries` entries starts.
    fn started(&self, entries: u64);
    /// `done` entries have been checked so far.
    fn advanced(&self, done: u64);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl AuditProgress for NoProgress {
    fn started(&self, _: u64) {}
    fn advanced(&self, _: u64) {}
}

/// The outcome of an audit: what was checked, and the first problem found, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// Tile rows checked.
    pub tiles: u64,
    /// Device batches checked.
    pub device_batches: u64,
    /// Device batches whose signature verified under a key the registry (`device_keys`) holds for
    /// their device.
    pub device_signatures_verified: u64,
    /// Device batches by devices the registry holds no key for (logs written without ingest):
    /// their signatures are not checked.
    pub unregistered_device_batches: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Entries that are error declarations (each checked against the entry it declares).
    pub error_declarations: u64,
    /// Entries whose leaf record is version 1: it binds the CBV 2.0 hash, not the stored bytes, so
    /// an edit to what the hash leaves out (`eventID`, `errorDeclaration`, the zone of a time)
    /// goes unnoticed for them.
    pub version_1_entries: u64,
    /// Whether event hashes were recomputed from the stored JSON.
    pub event_hashes_recomputed: bool,
    /// The first problem in log order; `None` when everything holds.
    pub problem: Option<AuditProblem>,
}

impl AuditReport {
    /// Whether everything checked holds.
    pub fn is_clean(&self) -> bool {
        self.problem.is_none()
    }
}
