//! The hashing threads: every stored event's CBV 2.0 hash recomputed from its JSON, chunk by chunk,
//! keeping the first mismatch in log order.

use std::sync::{Arc, Mutex};

use epcis::EventHash;
use epcis::hash::{HashContext, event_hash};

use crate::copy::CopyRow;

use super::checker::{Found, earliest, entry_problem};
use super::problem::EntryReason;
use super::report::AuditOptions;

/// Threads that recompute event hashes from the stored JSON, chunk by chunk.
pub(super) struct EventHashers {
    work: Option<std::sync::mpsc::SyncSender<Vec<CopyRow>>>,
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
        let (work, queue) = std::sync::mpsc::sync_channel::<Vec<CopyRow>>(4);
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
    pub(super) fn submit(&self, chunk: Vec<CopyRow>) {
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

/// Recomputes the event hash of every row `(leaf_index, event_hash, event)` of a chunk; returns
/// the first mismatch.
fn check_event_hashes(chunk: &[CopyRow]) -> Option<Found> {
    let context = HashContext::new();
    for row in chunk {
        let leaf = u64::try_from(row.int8(0)).unwrap_or(0);
        let stored = row.bytes(1);
        let json = match row.text(2) {
            Ok(json) => json,
            Err(error) => return Some(entry_problem(leaf, EntryReason::EventNotUtf8(error))),
        };
        let event = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
            Ok(event) => event,
            Err(error) => {
                return Some(entry_problem(
                    leaf,
                    EntryReason::EventNotJson {
                        error: error.to_string(),
                    },
                ));
            }
        };
        match event_hash(&event, &context) {
            Ok(hash) if hash.as_bytes().as_slice() == stored => {}
            Ok(computed) => {
                // The checking thread handed over only rows whose stored hash is 32 bytes.
                let reason = match <[u8; 32]>::try_from(stored) {
                    Ok(stored) => EntryReason::EventHashDiffers {
                        computed,
                        stored: EventHash::from_bytes(stored),
                    },
                    Err(_) => EntryReason::EventHashLength {
                        bytes: stored.len(),
                    },
                };
                return Some(entry_problem(leaf, reason));
            }
            Err(error) => return Some(entry_problem(leaf, EntryReason::EventUnhashable(error))),
        }
    }
    None
}
