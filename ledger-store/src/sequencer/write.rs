//! The write of a group: where it goes (on top of the committing group within a chain, else under
//! the append lock from the log as it is), which of its entries are new, the tree's new right
//! edge and tiles, and the events `COPY`d in before the commit when the group is large.

use std::sync::atomic::Ordering;

use deadpool_postgres::{GenericClient, Object};
use tokio::sync::oneshot;

use ledger::size::TreeSize;
use ledger::tiles::{Tile, TileFrontier, TileId, tiles_of_tree};

use crate::bundles::BundleRows;
use crate::entry::{AppendResult, NewBatch};
use crate::locks;
use crate::log::{read_tiles, tree_size_from_db};
use crate::runs;

use super::commit::begin;
use super::connection::Connection;
use super::dedup::{PlannedDeclaration, known_leaves, load_filter, plan, refresh_recent};
use super::handle::AppendError;
use super::statements::{copy_entries, encode_records, event_columns};
use super::turn::Worker;

/// Groups of more new entries than this are written with `COPY`, smaller ones with one `INSERT`.
pub(super) const COPY_ABOVE: usize = 256;
/// The rows one transaction writes.
pub(super) struct Planned {
    /// Per batch: where its entries are.
    pub(super) results: Vec<Vec<AppendResult>>,
    /// Indexes (batch, entry) of the entries to append, in leaf order.
    pub(super) new: Vec<(usize, usize)>,
    /// The new error declarations, in leaf order.
    pub(super) declarations: Vec<PlannedDeclaration>,
    pub(super) first_leaf: u64,
}

/// A group written (or, when small, ready to be written) by the appending task, for its committing
/// task to finish.
pub(super) struct Written {
    /// Whether the transaction has begun (or `BEGIN` is to be sent with the inserts).
    pub(super) begun: bool,
    pub(super) planned: Planned,
    /// Whether the new events went in with `COPY` already.
    pub(super) copied: bool,
    pub(super) bundles: BundleRows,
    pub(super) tiles: Vec<Tile>,
    /// When written on top of a committing group: that group's outcome.
    pub(super) on_top: Option<oneshot::Receiver<bool>>,
}

impl Worker {
    /// Decides where each entry of the group goes and writes what can be written before the
    /// commit: within a chain, on top of the newest committing group (no round trip of its own),
    /// otherwise under the append lock from the log as it is (one round trip for the locks and the
    /// state). Large groups' events go in with `COPY` here (two round trips).
    pub(super) async fn write(
        &mut self,
        connection: &Connection,
        batches: &[&NewBatch],
    ) -> Result<Written, AppendError> {
        self.apply_back_pressure().await?;
        let client: &Object = &connection.client;
        if self.filter.is_none() {
            // Loading reads every hash page of the runs (about 160 MB at 10M entries): done before
            // the append lock is taken, so that appenders in other processes are not held up
            // meanwhile. The runs only grow, and `refresh_recent` reads under the lock every entry
            // from where they ended when the load began.
            self.filter = Some(load_filter(client, &mut self.recent).await?);
        }

        // Within a chain (this task holds the turn lock), on top of the newest committing group.
        let chained = match (self.turn, self.committing.back(), &self.frontier) {
            (Some(_), Some(newest), Some(_)) => newest.outcome.is_some(),
            _ => false,
        };
        let mut begun = false;
        let mut on_top = None;
        if chained {
            // What the committing tasks saw with their last statements: no round trip here.
            if self.signals.turn_wanted.swap(false, Ordering::Relaxed) {
                // Another appender waits for its turn: end the chain, and let it go first.
                self.counters.handed_over.fetch_add(1, Ordering::Relaxed);
                self.drain().await;
                self.release_turn(Some(connection)).await?;
            } else {
                on_top = self
                    .committing
                    .back_mut()
                    .and_then(|newest| newest.outcome.take());
                // The runs only grow: where a committing task saw them end bounds the tail kept.
                let runs_end = self.signals.runs_end.load(Ordering::Relaxed);
                if runs_end > self.runs_end {
                    self.recent.trim(runs_end, self.config.recent_keep);
                    self.runs_end = runs_end;
                }
            }
        }

        let (size, frontier) = match (on_top.is_some(), self.frontier.take()) {
            (true, Some(frontier)) => (frontier.size(), frontier),
            (_, known) => {
                // The log as it is, under the append lock; the first group of a chain takes the
                // turn lock first.
                let take_turn = self.turn.is_none();
                let (began, turned, locked, state) = tokio::join!(
                    client.batch_execute("BEGIN"),
                    async {
                        if take_turn {
                            client
                                .execute(&connection.lock_turn, &[&locks::TURN])
                                .await
                                .map(|_| ())
                        } else {
                            Ok(())
                        }
                    },
                    client.execute(&connection.lock, &[&locks::SEQUENCER]),
                    client.query_one(&connection.state, &[]),
                );
                began?;
                begun = true;
                turned?;
                if take_turn {
                    self.turn = Some(connection.backend);
                }
                locked?;
                let state = state?;
                let runs_end = tree_size_from_db(state.get(0))?.get();
                let size = tree_size_from_db(state.get(1))?;
                let frontier = match known {
                    Some(frontier) if frontier.size() == size => frontier,
                    _ => load_frontier(client, size).await?,
                };
                let filter = match self.filter.as_mut() {
                    Some(filter) if self.recent.end <= size.get() => filter,
                    _ => self
                        .filter
                        .insert(load_filter(client, &mut self.recent).await?),
                };
                refresh_recent(client, &mut self.recent, filter, size.get()).await?;
                self.recent.trim(runs_end, self.config.recent_keep);
                self.runs_end = runs_end;
                (size, frontier)
            }
        };
        let Some(filter) = self.filter.as_mut() else {
            return Err(AppendError::Stopped);
        };
        // Normally empty: entries neither in the runs nor in memory, when the runs were deleted to
        // be rebuilt after this task forgot those entries.
        let uncovered = self.runs_end..self.recent.start.max(self.runs_end);

        // Known at once: in the tail. New at once: ruled out by the filter. The rest are looked up
        // in the runs, which cover every entry below the tail.
        let known = known_leaves(client, &self.recent, filter, batches, uncovered).await?;

        let planned = plan(&self.recent, known, batches, size.get())?;
        let (bundles, leaf_hashes) = encode_records(batches, &planned)?;
        let mut frontier = frontier;
        let tiles = frontier
            .append(&leaf_hashes)
            .map_err(|_| AppendError::TreeFull)?;
        // Large groups go in with COPY now; small ones with one INSERT sent together with the
        // rest of the transaction by the committing task.
        let copied = planned.new.len() > COPY_ABOVE;
        if copied {
            let (hashes, events) = event_columns(batches, &planned);
            let (began, copy) = tokio::join!(
                begin(client, begun),
                copy_entries(
                    client,
                    &connection.copy_events,
                    planned.first_leaf,
                    &hashes,
                    &events,
                ),
            );
            began?;
            copy?;
            begun = true;
        }

        // From here on, what this task knows is the log as it will be once the group commits;
        // if it does not, the committing task says so and everything is read again.
        for (offset, &(batch, entry)) in planned.new.iter().enumerate() {
            let hash = *batches[batch].entries()[entry].key();
            self.recent
                .leaves
                .insert(hash, planned.first_leaf + offset as u64);
            filter.insert(runs::hash_key(&hash));
        }
        self.recent.end = frontier.size().get();
        self.frontier = Some(frontier);
        Ok(Written {
            begun,
            planned,
            copied,
            bundles,
            tiles,
            on_top,
        })
    }
}

/// Rebuilds the right edge of the tree of `size` leaves from its stored partial tiles.
pub(super) async fn load_frontier<C: GenericClient>(
    client: &C,
    size: TreeSize,
) -> Result<TileFrontier, AppendError> {
    let ids: Vec<TileId> = tiles_of_tree(size).filter(|id| !id.is_full()).collect();
    let tiles = read_tiles(client, &ids).await?;
    TileFrontier::from_partial_tiles(size, tiles)
        .map_err(|error| AppendError::CorruptFrontier(error.to_string()))
}
