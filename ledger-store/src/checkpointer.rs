//! [`Checkpointer`]: signs a checkpoint of the stored tree whenever it has grown, at least once a
//! second while entries arrive, and stores it.
//!
//! Before signing size `n`, the signer recomputes the root of `n` from the stored tiles and checks
//! it against the previous checkpoint with an RFC 9162 consistency proof (also from the stored
//! tiles): it never signs a tree that does not extend the last one it signed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use ledger::checkpoint::{Checkpoint, Origin};
use ledger::hash::RootHash;
use ledger::note::NoteSignerKey;
use ledger::size::TreeSize;
use ledger::tree::{ConsistencyError, ConsistencyProof, ProofPlan};

use super::indexer::error_chain;
use super::locks;
use super::log::{ProofError, ReadError, Store, read_plan, root_hash_at, tree_size_from_db};
use super::packs;

/// How often the background signer looks for growth: twice a second, so that a checkpoint follows
/// new entries within a second even when signing takes a while.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

const SELECT_LATEST: &str =
    "SELECT tree_size, root_hash, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1";
/// The newest checkpoint and how far the lookups reach, for readers (one round trip).
const SELECT_READER_VIEW: &str = "SELECT c.tree_size, c.root_hash, c.note,
        (SELECT coalesce(max(end_leaf), 0) FROM lookup_runs)
    FROM (SELECT 1) AS one
    LEFT JOIN (SELECT tree_size, root_hash, note FROM checkpoints
               ORDER BY tree_size DESC LIMIT 1) c ON true";
const SELECT_BY_SIZE: &str =
    "SELECT tree_size, root_hash, note FROM checkpoints WHERE tree_size = $1";
const INSERT_KEY: &str =
    "INSERT INTO signing_keys (verifier_key) VALUES ($1) ON CONFLICT (verifier_key) DO NOTHING";
const INSERT_CHECKPOINT: &str =
    "INSERT INTO checkpoints (tree_size, root_hash, note) VALUES ($1, $2, $3)";

/// A checkpoint as stored: its size, root and the signed note (C2SP signed-note text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size the checkpoint commits to.
    pub size: TreeSize,
    /// The root hash at that size.
    pub root: RootHash,
    /// The signed note, as published (`<origin>\n<size>\n<root>\n\n— <key> <signature>\n`).
    pub note: String,
}

/// Why a checkpoint could not be signed or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointStoreError {
    #[error("failed to get a database connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error("database query failed")]
    Query(#[source] tokio_postgres::Error),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("failed to compute the tree from the stored tiles")]
    Proof(#[source] ProofError),
    #[error(
        "the tree of {new} leaves does not extend the last checkpoint ({old} leaves): refusing to sign"
    )]
    Inconsistent {
        old: TreeSize,
        new: TreeSize,
        #[source]
        source: ConsistencyError,
    },
    #[error("failed to sign the checkpoint")]
    Sign(#[source] ledger::note::NoteError),
}

impl From<tokio_postgres::Error> for CheckpointStoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Query(error)
    }
}

impl From<ProofError> for CheckpointStoreError {
    fn from(error: ProofError) -> Self {
        Self::Proof(error)
    }
}

/// Signs checkpoints of the stored tree with one key under one origin.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    store: Store,
    origin: Origin,
    signer: Arc<NoteSignerKey>,
    interval: Duration,
}

impl Checkpointer {
    /// A signer for the log `origin` (its checkpoints' first line) with `signer`, looking for growth
    /// every [`DEFAULT_CHECKPOINT_INTERVAL`].
    pub fn new(store: &Store, origin: Origin, signer: Arc<NoteSignerKey>) -> Self {
        Self {
            store: store.clone(),
            origin,
            signer,
            interval: DEFAULT_CHECKPOINT_INTERVAL,
        }
    }

    /// The same signer looking for growth every `interval`.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Signs and stores a checkpoint of the current tree if it has grown past the latest
    /// checkpoint; returns it, or `None` when there was nothing new (or another process is
    /// signing right now).
    pub async fn sign_latest(&self) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        let mut client = self
            .store
            .pool()
            .get()
            .await
            .map_err(CheckpointStoreError::Pool)?;
        let transaction = client.transaction().await?;
        let locked: bool = transaction
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1)",
                &[&locks::CHECKPOINTER],
            )
            .await?
            .get(0);
        if !locked {
            return Ok(None);
        }
        let size: i64 = transaction.query_one(packs::TREE_SIZE, &[]).await?.get(0);
        let size = tree_size_from_db(size)?;
        let latest = match transaction.query_opt(SELECT_LATEST, &[]).await? {
            Some(row) => Some(checkpoint_from_row(&row)?),
            None => None,
        };
        let old = latest.as_ref().map_or(TreeSize::ZERO, |c| c.size);
        if size == TreeSize::ZERO || size <= old {
            return Ok(None);
        }
        // The transaction's statements see every append committed before them; `size` is one.
        let root = root_hash_at(&transaction, size).await?;
        if let Some(latest) = &latest {
            let plan = ProofPlan::consistency(latest.size, size).map_err(ProofError::from)?;
            let hashes = read_plan(&transaction, &plan, size, None).await?;
            ConsistencyProof::new(latest.size, size, hashes)
                .verify(&latest.root, &root)
                .map_err(|source| CheckpointStoreError::Inconsistent {
                    old: latest.size,
                    new: size,
                    source,
                })?;
        }
        let note = Checkpoint::new(self.origin.clone(), size, root)
            .sign(&[self.signer.as_ref()])
            .map_err(CheckpointStoreError::Sign)?
            .to_message();
        let verifier = self.signer.verifier_key().to_string();
        transaction.execute(INSERT_KEY, &[&verifier]).await?;
        let size_db = i64::try_from(size.get()).unwrap_or(i64::MAX);
        transaction
            .execute(
                INSERT_CHECKPOINT,
                &[&size_db, &root.as_bytes().as_slice(), &note],
            )
            .await?;
        transaction.commit().await?;
        Ok(Some(StoredCheckpoint { size, root, note }))
    }

    /// Signs in the background until [`CheckpointerHandle::shutdown`], which signs once more so
    /// that the last entries appended are covered.
    pub fn spawn(self) -> CheckpointerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let stopping = tokio::select! {
                    _ = ticks.tick() => false,
                    _ = stopped.changed() => true,
                };
                if let Err(error) = self.sign_latest().await {
                    tracing::warn!(error = %error_chain(&error), "checkpoint signing failed");
                }
                if stopping {
                    return;
                }
            }
        });
        CheckpointerHandle { stop, task }
    }
}

/// The background signer started by [`Checkpointer::spawn`].
#[derive(Debug)]
pub struct CheckpointerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl CheckpointerHandle {
    /// Signs a last checkpoint and stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Store {
    /// The checkpoint with the largest tree size, if any.
    pub async fn latest_checkpoint(
        &self,
    ) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        self.one_checkpoint(SELECT_LATEST, &[]).await
    }

    /// The checkpoint with the largest tree size, if any, and how far the lookups reach
    /// ([`indexed_through`](Self::indexed_through)), read together: what a reader needs to answer
    /// as of the newest checkpoint.
    pub async fn reader_view(
        &self,
    ) -> Result<(Option<StoredCheckpoint>, u64), CheckpointStoreError> {
        let client = self
            .pool()
            .get()
            .await
            .map_err(CheckpointStoreError::Pool)?;
        let statement = client.prepare_cached(SELECT_READER_VIEW).await?;
        let row = client.query_one(&statement, &[]).await?;
        let indexed: i64 = row.get(3);
        let checkpoint = match row.get::<_, Option<i64>>(0) {
            Some(_) => Some(checkpoint_from_row(&row)?),
            None => None,
        };
        Ok((checkpoint, u64::try_from(indexed).unwrap_or(0)))
    }

    /// The checkpoint of exactly `size` leaves, if one was signed.
    pub async fn checkpoint(
        &self,
        size: TreeSize,
    ) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        let size = i64::try_from(size.get()).unwrap_or(i64::MAX);
        self.one_checkpoint(SELECT_BY_SIZE, &[&size]).await
    }

    /// The checkpoint a query selects, if any.
    async fn one_checkpoint(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        let client = self
            .pool()
            .get()
            .await
            .map_err(CheckpointStoreError::Pool)?;
        let statement = client.prepare_cached(sql).await?;
        match client.query_opt(&statement, params).await? {
            Some(row) => Ok(Some(checkpoint_from_row(&row)?)),
            None => Ok(None),
        }
    }
}

fn checkpoint_from_row(row: &tokio_postgres::Row) -> Result<StoredCheckpoint, ReadError> {
    let size: i64 = row.get(0);
    let root: &[u8] = row.get(1);
    let note: String = row.get(2);
    let root = <[u8; 32]>::try_from(root).map_err(|_| ReadError::Corrupt {
        what: "checkpoint root hash",
        reason: format!("{} bytes instead of 32", root.len()),
    })?;
    Ok(StoredCheckpoint {
        size: tree_size_from_db(size)?,
        root: RootHash::from_bytes(root),
        note,
    })
}
