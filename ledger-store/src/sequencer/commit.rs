//! The committing task: a group's last statements and `COMMIT` (after the group beneath it has
//! committed), the hand-over of its lookup keys to the indexer, and the answers to its callers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use deadpool_postgres::Object;
use tokio::sync::oneshot;
use tokio_postgres::Client;

use crate::entry::NewBatch;
use crate::keys::{HandedKeys, KeyHandoff};
use crate::locks;

use super::connection::Connection;
use super::handle::{AppendError, Counters, Request, Signals};
use super::statements::{
    event_columns, insert_entries, write_batches, write_bundles, write_declarations,
    write_field_keys, write_tiles,
};
use super::turn::{Finished, Outcome, fail};
use super::write::{Planned, Written};

/// Why a committing task did not commit.
pub(super) enum NotCommitted {
    /// The group below did not commit, or the log does not end where this one begins.
    Below,
    Failed(AppendError),
}

impl From<tokio_postgres::Error> for NotCommitted {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Failed(error.into())
    }
}

impl From<AppendError> for NotCommitted {
    fn from(error: AppendError) -> Self {
        Self::Failed(error)
    }
}

/// The committing task: writes the rest of the group, commits, tells the group on top whether it
/// committed, hands the lookup keys to the indexer and answers the callers.
pub(super) async fn finish(
    connection: Connection,
    group: Vec<Request>,
    written: Written,
    told: oneshot::Sender<bool>,
    handoff: Arc<KeyHandoff>,
    counters: Arc<Counters>,
    signals: Arc<Signals>,
) -> Finished {
    let mut written = written;
    let below = written.on_top.take();
    let on_top = below.is_some();
    let backend = connection.backend;
    let batches: Vec<&NewBatch> = group.iter().map(|request| &request.batch).collect();
    let outcome = write_and_commit(&connection, &batches, &written, below, &signals).await;
    let planned = written.planned;
    let _ = told.send(outcome.is_ok());
    match outcome {
        Ok(()) => {
            counters.committed.fetch_add(1, Ordering::Relaxed);
            if on_top {
                counters.on_top.fetch_add(1, Ordering::Relaxed);
            }
            hand_off(&handoff, &batches, &planned);
            for (request, result) in group.into_iter().zip(planned.results) {
                let _ = request.reply.send(Ok(result));
            }
            Finished {
                connection: Some(connection),
                backend,
                outcome: Outcome::Committed,
            }
        }
        Err(NotCommitted::Below) => Finished {
            connection: Some(connection),
            backend,
            outcome: Outcome::Requeued(group),
        },
        Err(NotCommitted::Failed(error)) => {
            drop(connection);
            fail(group, &error);
            Finished {
                connection: None,
                backend,
                outcome: Outcome::Failed,
            }
        }
    }
}

/// The group's last round trips: the small inserts and `COMMIT` pipelined. On top of another
/// group, the transaction commits only once that group has committed (after the inserts, unless
/// it has committed already), and rolls back if it did not. With the inserts, in the same round
/// trip: whether another appender waits for its turn, and where the lookup runs end.
pub(super) async fn write_and_commit(
    connection: &Connection,
    batches: &[&NewBatch],
    written: &Written,
    below: Option<oneshot::Receiver<bool>>,
    signals: &Signals,
) -> Result<(), NotCommitted> {
    let client: &Object = &connection.client;
    let planned = &written.planned;
    let (hashes, events) = if written.copied {
        (Vec::new(), Vec::new())
    } else {
        event_columns(batches, planned)
    };
    let first = i64::try_from(planned.first_leaf).unwrap_or(i64::MAX);
    let inserts = async {
        let (began, inserted, bundled, tiled, signed, declared, keyed, waiting, state) = tokio::join!(
            begin(client, written.begun),
            insert_entries(client, &connection.insert_events, first, &hashes, &events),
            write_bundles(client, &connection.bundles, &written.bundles),
            write_tiles(client, &connection.tiles, &written.tiles),
            write_batches(client, &connection.batches, batches, planned),
            write_declarations(client, &connection.declarations, planned),
            write_field_keys(client, &connection.field_keys, batches, planned),
            client.query_one(&connection.waiting, &[&locks::TURN]),
            client.query_one(&connection.state, &[]),
        );
        // Hints for the appending task, read in the same round trip: whether another appender
        // waits for its turn, and where the lookup runs end.
        if waiting.is_ok_and(|waiting| waiting.get::<_, bool>(0)) {
            signals.turn_wanted.store(true, Ordering::Relaxed);
        }
        if let Some(runs_end) = state
            .ok()
            .and_then(|row| u64::try_from(row.get::<_, i64>(0)).ok())
        {
            signals.runs_end.fetch_max(runs_end, Ordering::Relaxed);
        }
        began?;
        inserted
            .and(bundled)
            .and(tiled)
            .and(signed)
            .and(declared)
            .and(keyed)
    };
    // Whether the group below committed, if known yet.
    let below = match below {
        None => Ok(true),
        Some(mut below) => match below.try_recv() {
            Ok(committed) => Ok(committed),
            Err(oneshot::error::TryRecvError::Closed) => Ok(false),
            Err(oneshot::error::TryRecvError::Empty) => Err(below),
        },
    };
    let commit = match below {
        Ok(true) => {
            let (inserted, committed) = tokio::join!(inserts, client.batch_execute("COMMIT"));
            // A failed statement turns the COMMIT into a rollback: check the statements first.
            inserted?;
            committed?;
            return Ok(());
        }
        Ok(false) => false,
        Err(below) => {
            inserts.await?;
            below.await.unwrap_or(false)
        }
    };
    if !commit {
        client.batch_execute("ROLLBACK").await?;
        return Err(NotCommitted::Below);
    }
    client.batch_execute("COMMIT").await?;
    Ok(())
}

/// Sends `BEGIN` on the first poll, unless the transaction has begun.
pub(super) async fn begin(client: &Client, begun: bool) -> Result<(), tokio_postgres::Error> {
    if begun {
        Ok(())
    } else {
        client.batch_execute("BEGIN").await
    }
}

/// Hands the lookup keys of the committed entries to the indexer, when every new entry has them
/// (a run with a gap would be read back from the database anyway).
pub(super) fn hand_off(handoff: &KeyHandoff, batches: &[&NewBatch], planned: &Planned) {
    let handed: Option<Vec<HandedKeys>> = planned
        .new
        .iter()
        .map(|&(batch, entry)| {
            let entry = &batches[batch].entries()[entry];
            entry.lookup_keys().map(|keys| HandedKeys {
                event_hash: *entry.key(),
                keys: keys.clone(),
                tag: keys.tag(entry.record().attestation()),
            })
        })
        .collect();
    if let Some(handed) = handed {
        handoff.publish(planned.first_leaf, handed);
    }
}
