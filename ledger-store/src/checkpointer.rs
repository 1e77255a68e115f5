//! [`Checkpointer`]: signs a checkpoint of the stored tree whenever it has grown, at least once a
//! second while entries arrive, and stores it.
//!
//! Before signing size `n`, the signer recomputes the root of `n` from the stored tiles and checks
//! it against the previous checkpoint with an RFC 9162 consistency proof (also from the stored
//! tiles): it never signs a tree that does not extend the last one it signed.
//!
//! With a published-checkpoint file ([`Checkpointer::with_published_file`], see
//! [`published`](super::published)), it also never signs a tree that does not extend the newest
//! checkpoint the log ever published, even after the database was restored from an older backup:
//! every checkpoint is written to the file before its row is stored, and at start-up
//! ([`Checkpointer::check`]) and at every tick, before signing, the database is compared with
//! the file. While the database holds fewer entries than the file's checkpoint, or another root at
//! its size, nothing is signed ([`CheckpointStoreError::Refused`]) and the [`SigningGate`] says
//! why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use ledger::checkpoint::{Checkpoint, Origin, TrustedLog};
use ledger::hash::RootHash;
use ledger::note::{NoteSignerKey, NoteVerifiers};
use ledger::size::TreeSize;
use ledger::tree::{ConsistencyError, ConsistencyProof, ProofPlan};

use super::indexer::error_chain;
use super::locks;
use super::log::{ProofError, ReadError, Store, read_plan, root_hash_at, tree_size_from_db};
use super::packs;
use super::published::{
    PublishedFile, PublishedFileError, Refusal, SigningGate, SigningState, Witness,
};

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
    /// The database contradicts the newest checkpoint the log published: nothing is signed.
    #[error("{0}")]
    Refused(Refusal),
    /// The checkpoint could not be recorded in the published-checkpoint file: it was not stored
    /// (published) either.
    #[error("failed to record the checkpoint before publishing it")]
    Published(#[source] PublishedFileError),
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
    /// The record of the newest checkpoint published, outside the database, when kept.
    witness: Option<Arc<Witness>>,
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
            witness: None,
        }
    }

    /// The same signer keeping the newest checkpoint it publishes in the file at `path`, and
    /// refusing to sign while the database does not hold that checkpoint's tree (see
    /// [`published`](super::published)). Reads the file now: a file that is there but is not a
    /// checkpoint of this log signed by this key is an error. Blocks on the file system.
    pub fn with_published_file(mut self, path: PathBuf) -> Result<Self, PublishedFileError> {
        // One key cannot be ambiguous with itself.
        let keys = NoteVerifiers::new(vec![self.signer.verifier_key()]).unwrap_or_default();
        let file = PublishedFile::new(path, TrustedLog::new(self.origin.clone(), keys));
        self.witness = Some(Witness::open(file)?);
        Ok(self)
    }

    /// Whether this signer signs, and why not: [`SigningState::Unchecked`] until it has compared
    /// the database with its published-checkpoint file; always consistent without a file.
    pub fn gate(&self) -> SigningGate {
        match &self.witness {
            Some(witness) => witness.gate(),
            None => SigningGate::always(),
        }
    }

    /// Compares the database with the published-checkpoint file now, without signing (what
    /// start-up does before accepting captures): records the database's newest checkpoint in the
    /// file when it is newer (another process signed it) or the file is missing, and updates the
    /// [`gate`](Self::gate). `Err(Refused)` when the database contradicts the file.
    pub async fn check(&self) -> Result<(), CheckpointStoreError> {
        if self.witness.is_none() {
            return Ok(());
        }
        let mut client = self
            .store
            .pool()
            .get()
            .await
            .map_err(|error| self.uncompared(CheckpointStoreError::Pool(error)))?;
        let transaction = client
            .transaction()
            .await
            .map_err(|error| self.uncompared(error.into()))?;
        let (size, latest) = tree_and_latest(&transaction)
            .await
            .map_err(|error| self.uncompared(error))?;
        self.guard(&transaction, size, latest.as_ref()).await
    }

    /// Passes on an error that kept the database from being compared with the published
    /// checkpoint, first making a consistent state [`SigningState::Unchecked`]: the connection
    /// was lost, and the database that answers next may be another (a restored backup). A
    /// refusal stands until a comparison ends it.
    fn uncompared(&self, error: CheckpointStoreError) -> CheckpointStoreError {
        if let Some(witness) = &self.witness
            && !matches!(
                error,
                CheckpointStoreError::Refused(_) | CheckpointStoreError::Published(_)
            )
        {
            witness.lost();
        }
        error
    }

    /// Compares the stored tree (`size` entries; `latest` its newest checkpoint row) with the
    /// newest published checkpoint, and catches the file up with `latest`; see
    /// [`check`](Self::check).
    async fn guard<C: GenericClient>(
        &self,
        client: &C,
        size: TreeSize,
        latest: Option<&StoredCheckpoint>,
    ) -> Result<(), CheckpointStoreError> {
        let Some(witness) = &self.witness else {
            return Ok(());
        };
        let mut newest = witness.newest().await;
        if let Some(published) = newest.as_ref() {
            let stored_root = if size < published.size {
                None
            } else {
                Some(
                    root_hash_at(client, published.size)
                        .await
                        .map_err(|error| self.uncompared(error.into()))?,
                )
            };
            if stored_root.as_ref() != Some(&published.root) {
                let refusal = Refusal {
                    path: witness.file().path().to_owned(),
                    published_size: published.size,
                    published_root: published.root,
                    stored_size: size,
                    stored_root,
                };
                witness.set(SigningState::Refused(refusal.clone()));
                return Err(CheckpointStoreError::Refused(refusal));
            }
        }
        // The database holds the published tree (consistent even if recording below fails).
        witness.set(SigningState::Consistent {
            published: newest.as_ref().map(|published| published.size),
        });
        // A newer checkpoint in the database was published too
        // (by another process sharing the database), and a missing file is created from it (the
        // first start with a file, or the file was lost).
        if let Some(latest) = latest
            && newest
                .as_ref()
                .is_none_or(|published| latest.size > published.size)
        {
            match witness.file().open(&latest.note) {
                Ok(checkpoint) => {
                    let created = newest.is_none();
                    witness
                        .record(&mut newest, checkpoint)
                        .await
                        .map_err(CheckpointStoreError::Published)?;
                    witness.set(SigningState::Consistent {
                        published: Some(latest.size),
                    });
                    if created {
                        tracing::warn!(
                            path = %witness.file().path().display(),
                            published_size = latest.size.get(),
                            "the published-checkpoint file was missing: created it from the database's newest checkpoint; if this database was restored from a backup, check it against the checkpoints monitors saw and the anchors (tagtrail audit --rpc) before trusting it"
                        );
                    }
                }
                Err(error) => tracing::warn!(
                    error = %error,
                    size = latest.size.get(),
                    "the database's newest checkpoint is not signed by this signer's key: not recorded in the published-checkpoint file"
                ),
            }
        }
        Ok(())
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
            .map_err(|error| self.uncompared(CheckpointStoreError::Pool(error)))?;
        let transaction = client
            .transaction()
            .await
            .map_err(|error| self.uncompared(error.into()))?;
        let locked: bool = transaction
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1)",
                &[&locks::CHECKPOINTER],
            )
            .await
            .map_err(|error| self.uncompared(error.into()))?
            .get(0);
        // Read after taking the lock, so that no other signer's checkpoint can come in between.
        let (size, latest) = tree_and_latest(&transaction)
            .await
            .map_err(|error| self.uncompared(error))?;
        // Every process compares the database with its own file, whether it signs now or not.
        self.guard(&transaction, size, latest.as_ref()).await?;
        if !locked {
            return Ok(None);
        }
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
        // Recorded outside the database before the row publishes it: a restored database can
        // lose the row, not this record. (A row that then fails to be stored is signed again,
        // identically, at the next tick: Ed25519 signatures are deterministic.)
        if let Some(witness) = &self.witness {
            let mut newest = witness.newest().await;
            if newest
                .as_ref()
                .is_none_or(|published| size > published.size)
            {
                let checkpoint = StoredCheckpoint {
                    size,
                    root,
                    note: note.clone(),
                };
                witness
                    .record(&mut newest, checkpoint)
                    .await
                    .map_err(CheckpointStoreError::Published)?;
                witness.set(SigningState::Consistent {
                    published: Some(size),
                });
            }
        }
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
                match self.sign_latest().await {
                    Ok(_) => {}
                    // Logged when it starts and every minute while it lasts (`Witness::set`).
                    Err(CheckpointStoreError::Refused(_)) => {}
                    Err(error) => {
                        tracing::warn!(error = %error_chain(&error), "checkpoint signing failed");
                    }
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

/// The stored tree's size and its newest checkpoint, as the transaction sees them.
async fn tree_and_latest<C: GenericClient>(
    transaction: &C,
) -> Result<(TreeSize, Option<StoredCheckpoint>), CheckpointStoreError> {
    let size: i64 = transaction.query_one(packs::TREE_SIZE, &[]).await?.get(0);
    let size = tree_size_from_db(size)?;
    let latest = match transaction.query_opt(SELECT_LATEST, &[]).await? {
        Some(row) => Some(checkpoint_from_row(&row)?),
        None => None,
    };
    Ok((size, latest))
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
