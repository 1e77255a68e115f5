//! The appending task: taking requests into groups, handing each written group to a committing
//! task, the chain of groups written on top of committing ones and the turn lock that keeps other
//! appenders out while a chain lasts, and back-pressure from the indexer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle};

use ledger::tiles::TileFrontier;

use crate::entry::NewBatch;
use crate::filter::HashFilter;
use crate::indexer::{Indexer, LockWait};
use crate::locks;
use crate::log::Writer;

use super::commit::finish;
use super::connection::Connection;
use super::dedup::Recent;
use super::handle::{AppendError, CONNECTIONS, Counters, Request, SequencerConfig, Signals};
use super::write::Written;

/// A group is written on top of a committing one only when the backlog holds at least this many
/// entries; a smaller one waits for the commit, so that groups stay large (each costs a WAL flush
/// and a few statements, which matters when the machine is busy). With no group committing, a
/// backlog of twice this is split into two groups, the second written on top of the first.
pub(super) const CHAIN_FROM: usize = 1024;

/// What the appending task owns.
pub(super) struct Worker {
    pub(super) store: Writer,
    pub(super) indexer: Indexer,
    pub(super) config: SequencerConfig,
    pub(super) counters: Arc<Counters>,
    pub(super) signals: Arc<Signals>,
    /// Requests taken from the queue and not in a group yet, and how many entries they hold.
    pub(super) backlog: VecDeque<Request>,
    pub(super) backlog_entries: usize,
    /// Groups handed back because the group they were written on did not commit: appended again
    /// before the backlog.
    pub(super) retry: VecDeque<Vec<Request>>,
    /// Open connections not in use, and how many are open in all (idle, writing or committing).
    pub(super) idle: Vec<Connection>,
    pub(super) open: usize,
    /// Groups whose last round trips run in a task of their own, oldest first.
    pub(super) committing: VecDeque<Committing>,
    /// A committing group did not commit: what this task knows of the log may be wrong until every
    /// committing group has finished.
    pub(super) stale: bool,
    /// The backend of the connection holding the turn lock, while a chain lasts.
    pub(super) turn: Option<i32>,
    /// The right edge of the tree as the newest group leaves it; `None` when unknown.
    pub(super) frontier: Option<TileFrontier>,
    pub(super) recent: Recent,
    /// Every event hash of entries `0..recent.end` (and maybe more); `None` when not loaded.
    pub(super) filter: Option<HashFilter>,
    /// Where the lookup runs ended at the last look.
    pub(super) runs_end: u64,
}

/// A group whose last round trips run in a task of their own.
pub(super) struct Committing {
    pub(super) task: JoinHandle<Finished>,
    /// Whether the group committed; taken by the group written on top of it.
    pub(super) outcome: Option<oneshot::Receiver<bool>>,
}

/// What a committing task gives back.
pub(super) struct Finished {
    /// `None` when it was closed after a failure.
    pub(super) connection: Option<Connection>,
    /// The backend of the connection.
    pub(super) backend: i32,
    pub(super) outcome: Outcome,
}

pub(super) enum Outcome {
    Committed,
    /// The callers were told why.
    Failed,
    /// The group was written on top of one that did not commit, and rolled back: to be appended
    /// again.
    Requeued(Vec<Request>),
}

/// What wakes the appending task while it has nothing to append.
pub(super) enum Wake {
    Request(Option<Request>),
    Finished(Result<Finished, JoinError>),
}

impl Worker {
    pub(super) async fn run(mut self, mut queue: mpsc::Receiver<Request>) {
        let mut accepting = true;
        loop {
            if accepting {
                while self.backlog_entries < self.config.max_group {
                    match queue.try_recv() {
                        Ok(request) => self.push(request),
                        Err(_) => break,
                    }
                }
            }
            if let Some(group) = self.next_group() {
                self.append_group(group).await;
                continue;
            }
            if self.committing.is_empty() {
                // The chain has ended.
                let _ = self.release_turn(None).await;
            }
            // Nothing to append: wait for a request, or for the oldest committing group (which may
            // hand its group back).
            let wake = match self.committing.front_mut() {
                Some(oldest) => tokio::select! {
                    request = queue.recv(), if accepting => Wake::Request(request),
                    finished = &mut oldest.task => Wake::Finished(finished),
                },
                None if accepting => Wake::Request(queue.recv().await),
                None => break,
            };
            match wake {
                Wake::Request(Some(request)) => self.push(request),
                Wake::Request(None) => accepting = false,
                Wake::Finished(finished) => {
                    self.committing.pop_front();
                    self.settle(finished);
                }
            }
        }
    }

    pub(super) fn push(&mut self, request: Request) {
        self.backlog_entries += request.batch.len();
        self.backlog.push_back(request);
    }

    /// The next group: one handed back, or requests of the backlog up to the group limit (see
    /// [`CHAIN_FROM`]). With no group committing, a large backlog in one group would leave its
    /// commit nothing to overlap with: then about half of it is taken, and the rest goes on top.
    pub(super) fn next_group(&mut self) -> Option<Vec<Request>> {
        if let Some(group) = self.retry.pop_front() {
            return Some(group);
        }
        if self.backlog.is_empty()
            || (!self.committing.is_empty() && self.backlog_entries < CHAIN_FROM)
        {
            return None;
        }
        let limit = if self.committing.is_empty() && self.backlog_entries >= 2 * CHAIN_FROM {
            self.backlog_entries.div_ceil(2)
        } else {
            self.config.max_group
        };
        let mut group = Vec::new();
        let mut count = 0;
        while let Some(request) = self.backlog.front() {
            let len = request.batch.len();
            if !group.is_empty() && count + len > limit {
                break;
            }
            count += len;
            group.extend(self.backlog.pop_front());
        }
        self.backlog_entries -= count;
        Some(group)
    }

    /// Writes the group and hands it to a committing task; on failure, tells its callers why.
    pub(super) async fn append_group(&mut self, group: Vec<Request>) {
        if self.stale {
            self.drain().await;
        }
        let connection = match self.connection().await {
            Ok(connection) => connection,
            Err(error) => return fail(group, &error),
        };
        let written = {
            let batches: Vec<&NewBatch> = group.iter().map(|request| &request.batch).collect();
            self.write(&connection, &batches).await
        };
        match written {
            Ok(written) => self.commit(connection, group, written),
            Err(error) => {
                // Whatever we knew may be stale or the connection broken (possibly inside a
                // transaction): start afresh next time.
                self.close(connection);
                self.reset();
                fail(group, &error);
            }
        }
    }

    /// An idle connection, a new one, or the oldest committing group's once it has finished. An
    /// idle connection the server has closed (a restart of PostgreSQL, an idle timeout) is found
    /// dead here, before a group is written on it, and replaced: otherwise the first append after
    /// the database came back would fail.
    pub(super) async fn connection(&mut self) -> Result<Connection, AppendError> {
        loop {
            if let Some(connection) = self.idle.pop() {
                if !connection.client.is_closed() {
                    return Ok(connection);
                }
                tracing::info!("sequencer connection was closed by the server; opening another");
                // The turn lock it may have held is gone with it (`close` forgets it), so the next
                // group takes the locks and reads the log's state afresh.
                self.close(connection);
                continue;
            }
            if self.open < CONNECTIONS {
                let connection = Connection::open(&self.store).await?;
                self.open += 1;
                return Ok(connection);
            }
            let Some(oldest) = self.committing.pop_front() else {
                return Err(AppendError::Stopped);
            };
            let finished = oldest.task.await;
            self.settle(finished);
            if self.stale {
                self.drain().await;
            }
        }
    }

    /// Takes back what a committing task gives back.
    pub(super) fn settle(&mut self, finished: Result<Finished, JoinError>) {
        let Ok(finished) = finished else {
            // The task panicked: its callers' replies were dropped (they hear that the sequencer
            // stopped) and its connection with them, closed (not back in the pool: the task
            // owned the connection object, and the client inside it is dropped by the unwinding).
            self.open -= 1;
            self.turn = None;
            self.stale = true;
            return;
        };
        match finished.connection {
            Some(connection) => self.idle.push(connection),
            None => {
                self.open -= 1;
                if self.turn == Some(finished.backend) {
                    self.turn = None;
                }
            }
        }
        match finished.outcome {
            Outcome::Committed => {}
            Outcome::Failed => self.stale = true,
            Outcome::Requeued(group) => {
                self.counters.requeued.fetch_add(1, Ordering::Relaxed);
                self.retry.push_back(group);
                self.stale = true;
            }
        }
    }

    /// Waits for every committing group; if one did not commit, forgets what was known of the log.
    pub(super) async fn drain(&mut self) {
        while let Some(committing) = self.committing.pop_front() {
            let finished = committing.task.await;
            self.settle(finished);
        }
        if self.stale {
            self.reset();
        }
    }

    /// Lets the turn lock go: the chain has ended (no group is committing). The lock is held by
    /// `current` or by an idle connection; if by neither, its connection was closed, which let it go.
    pub(super) async fn release_turn(
        &mut self,
        current: Option<&Connection>,
    ) -> Result<(), AppendError> {
        let Some(backend) = self.turn.take() else {
            return Ok(());
        };
        if let Some(current) = current.filter(|current| current.backend == backend) {
            // On failure the caller closes `current`, which lets the lock go.
            current
                .client
                .execute(&current.unlock_turn, &[&locks::TURN])
                .await?;
            return Ok(());
        }
        let Some(at) = self.idle.iter().position(|idle| idle.backend == backend) else {
            return Ok(());
        };
        let holder = &self.idle[at];
        if holder
            .client
            .execute(&holder.unlock_turn, &[&locks::TURN])
            .await
            .is_err()
        {
            // Closing it lets the lock go.
            drop(self.idle.swap_remove(at));
            self.open -= 1;
        }
        Ok(())
    }

    /// Closes a connection that failed (which lets the turn lock go, if it held it).
    pub(super) fn close(&mut self, connection: Connection) {
        if self.turn == Some(connection.backend) {
            self.turn = None;
        }
        drop(connection);
        self.open -= 1;
    }

    pub(super) fn reset(&mut self) {
        self.frontier = None;
        self.recent = Recent::default();
        self.filter = None;
        self.stale = false;
    }

    /// Hands the written group to a task that finishes its transaction and answers its callers.
    pub(super) fn commit(&mut self, connection: Connection, group: Vec<Request>, written: Written) {
        let (told, outcome) = oneshot::channel();
        let task = tokio::spawn(finish(
            connection,
            group,
            written,
            told,
            Arc::clone(self.store.handoff()),
            Arc::clone(&self.counters),
            Arc::clone(&self.signals),
        ));
        self.committing.push_back(Committing {
            task,
            outcome: Some(outcome),
        });
    }

    /// Runs indexing steps until the lookup tables trail by at most half the allowed lag, if they
    /// trail by more than it.
    pub(super) async fn apply_back_pressure(&mut self) -> Result<(), AppendError> {
        let lag = self.recent.end.saturating_sub(self.runs_end);
        if lag <= self.config.max_index_lag {
            return Ok(());
        }
        let index_error = |e| AppendError::Index(Arc::new(e));
        let mut watermark = self.indexer.watermark().await.map_err(index_error)?;
        while self.recent.end.saturating_sub(watermark) > self.config.max_index_lag / 2 {
            if self
                .indexer
                .step(LockWait::Wait)
                .await
                .map_err(index_error)?
                == 0
            {
                break;
            }
            watermark = self.indexer.watermark().await.map_err(index_error)?;
        }
        // `recent` is trimmed by the append, against where the runs end (which a rebuild of the
        // runs may leave below the watermark).
        Ok(())
    }
}

/// Tells every caller of the group why it failed.
pub(super) fn fail(group: Vec<Request>, error: &AppendError) {
    tracing::warn!(error = %crate::indexer::error_chain(error), "append failed");
    for request in group {
        let _ = request.reply.send(Err(error.clone()));
    }
}
