//! The hashing threads: every stored event's CBV 2.0 hash recomputed from its JSON, its bytes
//! checked against its record's event digest, and an error declaration's key and row checked,
//! chunk by chunk, keeping the first mismatch in log order.

use std::sync::{Arc, Mutex};

use epcis::EventHash;
use epcis::hash::{HashContext, event_hash};
use ledger::record::EventDigest;

use crate::copy::CopyRow;
use crate::entry::declaration_key;

use super::checker::{Found, earliest, entry_problem};
use super::problem::EntryReason;
use super::report::AuditOptions;

/// An event row `(leaf_index, event_hash, event)` and what its leaf record says of it.
pub(super) struct EventCheck {
    pub(super) row: CopyRow,
    /// The event hash the record names.
    pub(super) event_hash: [u8; 32],
    /// The record's event digest (`None`: a version 1 record).
    pub(super) digest: Option<EventDigest>,
    /// Whether an error declaration row names the entry.
    pub(super) declaration: bool,
}

/// Threads that recompute event hashes from the stored JSON, chunk by chunk.
pub(super) struct EventHashers {
    work: Option<std::sync::mpsc::SyncSender<Vec<EventCheck>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    first: Arc<Mutex<Option<Found>>>,
}

impl EventHashers {
    pub(super) fn start(options: AuditOptions) -> Self {
        let first = Arc::new(Mutex::new(None));
        if !options.recompute_event_hashes {
            return Self {
                work: None,
                threads: Vec::new(),
                first,
            };
        }
        let (work, queue) = std::sync::mpsc::sync_channel::<Vec<EventCheck>>(4);
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..options.hashing_threads)
            .map(|_| {
                let queue = Arc::clone(&queue);
                let first = Arc::clone(&first);
                std::thread::spawn(move || {
                    loop {
                        let chunk = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(chunk) = chunk else { return };
                        record_first(&first, check_event_hashes(&chunk));
                    }
                })
            })
            .collect();
        Self {
            work: (options.hashing_threads > 0).then_some(work),
            threads,
            first,
        }
    }

    /// Hands a chunk to the threads (or checks it here when there are none).
    pub(super) fn submit(&self, chunk: Vec<EventCheck>) {
        match &self.work {
            Some(work) => {
                if let Err(failed) = work.send(chunk) {
                    record_first(&self.first, check_event_hashes(&failed.0));
                }
            }
            None => record_first(&self.first, check_event_hashes(&chunk)),
        }
    }

    pub(super) fn first_problem(&self) -> Option<Found> {
        self.first.lock().ok().and_then(|first| first.clone())
    }

    /// Waits for the threads and returns the first event problem.
    pub(super) fn finish(mut self) -> Option<Found> {
        self.work = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.first_problem()
    }
}

fn record_first(first: &Mutex<Option<Found>>, found: Option<Found>) {
    let Some(found) = found else { return };
    if let Ok(mut first) = first.lock() {
        let keep = first.take();
        *first = earliest(keep, Some(found));
    }
}

/// Checks every event of a chunk; returns the first problem.
fn check_event_hashes(chunk: &[EventCheck]) -> Option<Found> {
    let context = HashContext::new();
    chunk
        .iter()
        .find_map(|check| check_event(check, &context).err())
}

/// Checks one stored event against its record: it parses, hashes to the hash the record names,
/// and, for a version 2 record, has the bytes the record's digest commits to, carries
/// `errorDeclaration` exactly when a declaration row names it, and is stored under its key (the
/// event hash, or a declaration's key). A version 1 entry's stored hash is checked by the checker.
fn check_event(check: &EventCheck, context: &HashContext) -> Result<(), Found> {
    let row = &check.row;
    let leaf = u64::try_from(row.int8(0)).unwrap_or(0);
    let problem = |reason| entry_problem(leaf, reason);
    let json = row
        .text(2)
        .map_err(|error| problem(EntryReason::EventNotUtf8(error)))?;
    let event = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json).map_err(
        |error| {
            problem(EntryReason::EventNotJson {
                error: error.to_string(),
            })
        },
    )?;
    let computed =
        event_hash(&event, context).map_err(|e| problem(EntryReason::EventUnhashable(e)))?;
    if computed.as_bytes() != &check.event_hash {
        return Err(problem(EntryReason::EventHashDiffers {
            computed,
            stored: EventHash::from_bytes(check.event_hash),
        }));
    }
    let Some(committed) = check.digest else {
        // Version 1: the hash is all the record binds; its entries are never declarations.
        return Ok(());
    };
    let found = EventDigest::of(json.as_bytes());
    if found != committed {
        return Err(problem(EntryReason::EventBytesDiffer { committed, found }));
    }
    let stored = <[u8; 32]>::try_from(row.bytes(1)).map_err(|_| {
        problem(EntryReason::EventHashLength {
            bytes: row.bytes(1).len(),
        })
    })?;
    match (event.get("errorDeclaration"), check.declaration) {
        (None, false) if stored == check.event_hash => Ok(()),
        (None, false) => Err(problem(EntryReason::EventHashNotNamed {
            named: computed,
            stored: EventHash::from_bytes(stored),
        })),
        (Some(_), false) => Err(problem(EntryReason::DeclarationNotRecorded)),
        (None, true) => Err(problem(EntryReason::NotADeclaration)),
        (Some(declaration), true) if stored == declaration_key(&computed, declaration) => Ok(()),
        (Some(_), true) => Err(problem(EntryReason::DeclarationKeyDiffers)),
    }
}
