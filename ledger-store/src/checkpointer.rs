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
//!
//! A checkpoint may carry several signatures ([`Checkpointer::with_signers`]): during a rotation of
//! the log's key (docs/OPERATIONS.md, "Checkpoint key rotation") every checkpoint is signed by the
//! primary key first (the signature an anchor carries) and then by the additional keys, and every
//! key that signs is registered in `signing_keys`. A checkpoint published before, in the file or
//! in the database, is accepted when signed by any key the log signed with, retired ones included
//! (see [`Checkpointer::with_published_file`] for why that is sound).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::GenericClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use ledger::checkpoint::{Checkpoint, CheckpointError, Origin, TrustedLog};
use ledger::hash::RootHash;
use ledger::note::{
    KeyId, KeyParseError, NoteError, NoteSignerKey, NoteVerifierKey, NoteVerifiers,
};
use ledger::size::TreeSize;
use ledger::tree::{ConsistencyError, ConsistencyProof, ProofPlan};

use super::index_runs;
use super::indexer::error_chain;
use super::locks;
use super::log::{
    Log, ProofError, ReadError, Reader, Writer, read_plan, root_hash_at, tree_size_from_db,
};
use super::lookup::{Declarations, LiveRuns};
use super::packs;
use super::published::{
    PublishedFile, PublishedFileError, Refusal, SigningGate, SigningState, Witness, open_checkpoint,
};

/// How often the background signer looks for growth: twice a second, so that a checkpoint follows
/// new entries within a second even when signing takes a while.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

const SELECT_LATEST: &str = "SELECT tree_size, root_hash, note FROM checkpoints
     ORDER BY tree_size DESC, index_size DESC LIMIT 1";
/// The newest checkpoint and how far the lookups reach, for readers (one round trip).
const SELECT_READER_VIEW: &str = "SELECT c.tree_size, c.root_hash, c.note,
        (SELECT coalesce(max(end_leaf), 0) FROM lookup_runs),
        (SELECT coalesce(array_agg(run_id), '{}') FROM lookup_runs),
        (SELECT coalesce(max(declaration_leaf), -1) FROM error_declarations)
    FROM (SELECT 1) AS one
    LEFT JOIN (SELECT tree_size, root_hash, note FROM checkpoints
               ORDER BY tree_size DESC, index_size DESC LIMIT 1) c ON true";
const SELECT_OLDEST: &str = "SELECT tree_size, root_hash, note FROM checkpoints
    ORDER BY tree_size, index_size LIMIT 1";
/// The checkpoint of a size: of several (`sql/V37__checkpoints_by_index.sql`), the one whose
/// index covers most.
const SELECT_BY_SIZE: &str = "SELECT tree_size, root_hash, note FROM checkpoints
    WHERE tree_size = $1 ORDER BY index_size DESC LIMIT 1";
/// Seconds since the oldest checkpoint larger than `$1` was signed (NULL: there is none).
const SELECT_SIGNED_SINCE: &str = "SELECT extract(epoch FROM now() - min(signed_at))::float8
    FROM checkpoints WHERE tree_size > $1";
/// Registers the signers' verifier keys (`$1`, a text array); a key already there is left as it
/// was (with the time it was first added).
const INSERT_KEYS: &str = "INSERT INTO signing_keys (verifier_key) SELECT unnest($1::text[])
    ON CONFLICT (verifier_key) DO NOTHING";
const SELECT_SIGNING_KEYS: &str =
    "SELECT verifier_key, added_at FROM signing_keys ORDER BY added_at, verifier_key";
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

/// What a reader answers as of: the newest checkpoint, the live lookup runs and the newest error
/// declaration, all of one snapshot ([`Reader::reader_view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderView {
    /// The checkpoint with the largest tree size, if any was signed.
    pub checkpoint: Option<StoredCheckpoint>,
    /// The live lookup runs (for [`Reader::lookup_any_within`]) and how far they reach.
    pub runs: LiveRuns,
    /// How far the error declarations went (for [`Reader::entries_as_of`]).
    pub declarations: Declarations,
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

/// A key that signed checkpoints of the log, as `signing_keys` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Its verifier key (`<name>+<key id>+<base64 key>`).
    pub key: NoteVerifierKey,
    /// When a checkpointer first registered it: with the first checkpoint it signed.
    pub added_at: SystemTime,
}

/// Why a checkpointer cannot sign with the keys it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointKeysError {
    #[error("a checkpoint signer needs at least one key")]
    NoKey,
    /// A signature names its key by name and id, and an anchor by id alone: two keys with one id
    /// could not be told apart.
    #[error(
        "checkpoint keys {first} and {second} (counting from 1, the primary key first) have the same key id {id}: the same key twice?"
    )]
    SameKeyId {
        id: KeyId,
        first: usize,
        second: usize,
    },
}

/// Why the keys the log signed with (`signing_keys`) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeysError {
    #[error("failed to get a database connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error("database query failed")]
    Query(#[source] tokio_postgres::Error),
    #[error("the stored signing key {key:?} is not a verifier key")]
    Corrupt {
        key: String,
        #[source]
        source: KeyParseError,
    },
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

/// Signs checkpoints of the stored tree under one origin, with one key or, during a key rotation,
/// several.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    store: Writer,
    origin: Origin,
    /// The keys that sign every checkpoint, in the order of their signatures: the primary key
    /// first (the signature an anchor carries), then the additional keys of a rotation. Never
    /// empty; no two share a key id.
    signers: Arc<[Arc<NoteSignerKey>]>,
    interval: Duration,
    /// The record of the newest checkpoint published, outside the database, when kept.
    witness: Option<Arc<Witness>>,
    /// How long an entry may stay out of checkpoints for the verifiable index to cover it.
    index_wait: Duration,
    /// Whether an idle log's newest checkpoint is signed again once the index covers its tree
    /// ([`with_idle_resign`](Self::with_idle_resign)).
    resign_idle: bool,
    /// The tree sizes the ticks found, oldest first, each with when it was first found: when the
    /// entries the index does not cover yet were appended, near enough.
    seen: Arc<std::sync::Mutex<std::collections::VecDeque<(TreeSize, std::time::Instant)>>>,
}

/// The most tree sizes [`Checkpointer::uncovered_since`] remembers (a stalled index for half an
/// hour at two ticks a second): beyond, the oldest is kept and newer ones are not recorded.
const MAX_SEEN: usize = 4096;

/// How long a checkpoint waits, by default, for the verifiable index to cover its tree.
pub const DEFAULT_INDEX_WAIT: Duration = Duration::from_secs(2);

impl Checkpointer {
    /// A signer for the log `origin` (its checkpoints' first line) with `signer`, looking for growth
    /// every [`DEFAULT_CHECKPOINT_INTERVAL`].
    pub fn new(store: &Writer, origin: Origin, signer: Arc<NoteSignerKey>) -> Self {
        Self {
            store: store.clone(),
            origin,
            signers: Arc::from(vec![signer]),
            interval: DEFAULT_CHECKPOINT_INTERVAL,
            witness: None,
            index_wait: DEFAULT_INDEX_WAIT,
            resign_idle: true,
            seen: Arc::default(),
        }
    }

    /// A signer for the log `origin` that signs every checkpoint with each of `signers`, in this
    /// order: the log's primary key first (its signature is the one an anchor carries), then the
    /// additional keys of a key rotation. Every one of them is registered in `signing_keys`
    /// with every checkpoint. Refuses an empty list and two keys with one key id.
    pub fn with_signers(
        store: &Writer,
        origin: Origin,
        signers: Vec<Arc<NoteSignerKey>>,
    ) -> Result<Self, CheckpointKeysError> {
        if signers.is_empty() {
            return Err(CheckpointKeysError::NoKey);
        }
        for (second, key) in signers.iter().enumerate() {
            if let Some(first) = signers[..second]
                .iter()
                .position(|other| other.id() == key.id())
            {
                return Err(CheckpointKeysError::SameKeyId {
                    id: key.id(),
                    first: first + 1,
                    second: second + 1,
                });
            }
        }
        Ok(Self {
            store: store.clone(),
            origin,
            signers: Arc::from(signers),
            interval: DEFAULT_CHECKPOINT_INTERVAL,
            witness: None,
            index_wait: DEFAULT_INDEX_WAIT,
            resign_idle: true,
            seen: Arc::default(),
        })
    }

    /// The same signer keeping the newest checkpoint it publishes in the file at `path`, and
    /// refusing to sign while the database does not hold that checkpoint's tree (see
    /// `ledger-store/src/published.rs`). Reads the file now (off the runtime): a file that is
    /// there but is not a checkpoint of this log is an error.
    ///
    /// The file's checkpoint must be signed by one of this signer's keys or, after a key rotation
    /// retired the key that signed it, by one the log signed with before: only then (a note none
    /// of the configured keys signed) are the keys in the database's `signing_keys` read, and an
    /// error says so when the database cannot be asked.
    ///
    /// Why trusting `signing_keys` here, and for the database's newest checkpoint that the
    /// comparison records in the file, is sound although whoever can write the database can add
    /// a key of their own to that table:
    ///
    /// - The file is this signer's own record, written by nobody else, on the ingest host next to
    ///   (or as well kept as) its private key. Whoever can write the file can already lower it to
    ///   any genuine older checkpoint of the log, which verifies under any set of the log's keys:
    ///   its signature guards against a corrupt file and another log's file, not against a forger,
    ///   and a key added to the table puts nothing into the file.
    /// - A checkpoint of the database is recorded in the file only after the database was found
    ///   to hold the file's tree, and only when the database's tree at its size has its root: the
    ///   file only ever moves forward along a tree that extends the one it held. A key added to
    ///   the table can at most get a checkpoint the log never signed recorded, of a tree
    ///   consistent with everything published before, and nothing signed after it can fork from
    ///   what was published. A key removed from the table (past its append-only trigger) can only
    ///   keep ingest from starting.
    ///
    /// Verifiers do not trust `signing_keys`: they trust the keys the operator published.
    pub async fn with_published_file(mut self, path: PathBuf) -> Result<Self, PublishedFileError> {
        let file = PublishedFile::new(path, self.trusted_log(Vec::new()));
        let reader = file.clone();
        let note = tokio::task::spawn_blocking(move || reader.read_note())
            .await
            .map_err(|error| PublishedFileError::Read {
                path: file.path().to_owned(),
                source: std::io::Error::other(error),
            })??;
        let newest = match note {
            None => None,
            Some(note) => Some(
                self.open_published(&note, || async {
                    let keys = self.store.signing_keys().await?;
                    Ok(keys.into_iter().map(|stored| stored.key).collect())
                })
                .await
                .map_err(|error| match error {
                    OpenError::Invalid(source) => file.invalid(source),
                    OpenError::FormerKeys(source) => PublishedFileError::FormerKeys {
                        path: file.path().to_owned(),
                        source,
                    },
                })?,
            ),
        };
        self.witness = Some(Witness::new(file, newest));
        Ok(self)
    }

    /// The log as this signer trusts it: its origin, and its signers' verifier keys followed by
    /// `former` (keys it signed with before, from `signing_keys`), each name and id once (a
    /// former key that claims a signer's name and id is left out: the signer's is the key).
    fn trusted_log(&self, former: Vec<NoteVerifierKey>) -> TrustedLog {
        let mut keys: Vec<NoteVerifierKey> = self
            .signers
            .iter()
            .map(|signer| signer.verifier_key())
            .collect();
        for key in former {
            if !keys
                .iter()
                .any(|known| known.name() == key.name() && known.id() == key.id())
            {
                keys.push(key);
            }
        }
        // No two keys share a name and an id: the signers' ids differ (`with_signers`), and the
        // former keys were added only when new.
        TrustedLog::new(
            self.origin.clone(),
            NoteVerifiers::new(keys).unwrap_or_default(),
        )
    }

    /// `note` opened as a checkpoint of this log published before: signed by one of this
    /// signer's keys or else by one of `former()`, the keys the log signed with before (asked
    /// only then). See [`with_published_file`](Self::with_published_file) for why that is sound.
    async fn open_published<F, Fut>(
        &self,
        note: &str,
        former: F,
    ) -> Result<StoredCheckpoint, OpenError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<NoteVerifierKey>, SigningKeysError>>,
    {
        match open_checkpoint(&self.trusted_log(Vec::new()), note) {
            Err(CheckpointError::Note(NoteError::NoTrustedSignature)) => {
                let former = former().await.map_err(OpenError::FormerKeys)?;
                open_checkpoint(&self.trusted_log(former), note).map_err(OpenError::Invalid)
            }
            opened => opened.map_err(OpenError::Invalid),
        }
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
            && newest.as_ref().is_none_or(|published| {
                (latest.size, index_size_of(&latest.note))
                    > (published.size, index_size_of(&published.note))
            })
        {
            match self.recordable(client, latest, size).await? {
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
                Err(why) => tracing::warn!(
                    error = %why,
                    size = latest.size.get(),
                    "the database's newest checkpoint is not recorded in the published-checkpoint file"
                ),
            }
        }
        Ok(())
    }

    /// The database's newest checkpoint as the published-checkpoint file may record it: a
    /// checkpoint of this log signed by one of its keys (the former ones read through `client`
    /// when needed), of a tree the database holds (it has `size` entries, and the checkpoint's
    /// root at its size). `Ok(Err(why))` when it is not; `Err` when the database could not be
    /// read.
    async fn recordable<C: GenericClient>(
        &self,
        client: &C,
        latest: &StoredCheckpoint,
        size: TreeSize,
    ) -> Result<Result<StoredCheckpoint, String>, CheckpointStoreError> {
        let checkpoint = match self
            .open_published(&latest.note, || signing_keys_in(client))
            .await
        {
            Ok(checkpoint) => checkpoint,
            Err(OpenError::Invalid(error)) => {
                return Ok(Err(format!(
                    "it is not a checkpoint of this log signed by one of its keys: {error}"
                )));
            }
            Err(OpenError::FormerKeys(error)) => {
                return Ok(Err(format!(
                    "none of the configured keys signed it, and the keys the log signed with before could not be read: {}",
                    error_chain(&error)
                )));
            }
        };
        if checkpoint.size > size {
            return Ok(Err(format!(
                "it covers {} entries, and the database holds {size}",
                checkpoint.size
            )));
        }
        let root = root_hash_at(client, checkpoint.size)
            .await
            .map_err(|error| self.uncompared(error.into()))?;
        if root != checkpoint.root {
            return Ok(Err(format!(
                "the database's tree at {} entries has root {}, not the checkpoint's {}",
                checkpoint.size,
                root.to_base64(),
                checkpoint.root.to_base64()
            )));
        }
        Ok(Ok(checkpoint))
    }

    /// The same signer looking for growth every `interval`.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How the checkpoints follow the verifiable index (default [`DEFAULT_INDEX_WAIT`]). A
    /// checkpoint commits to the index as it stands, and the index trails the tree by the entries
    /// appended since its last step; a history is proven complete only up to the index's size.
    /// So while the entries the index does not cover were appended less than `wait` ago, the
    /// next checkpoint is signed at the index's size when the index has passed the newest
    /// checkpoint (and the published one), and put off when it has not; once the oldest of them
    /// is older, the checkpoint covers the whole tree with the index as it is. Every checkpoint's
    /// index then covers its whole tree while the index keeps up, checkpoints trail the log by at
    /// most `wait` more than before, and a stalled or slow index never holds them back further.
    /// Zero: checkpoints ignore the index's progress (each covers the whole tree).
    pub fn with_index_wait(mut self, wait: Duration) -> Self {
        self.index_wait = wait;
        self
    }

    /// Whether the newest checkpoint, when the log has not grown since it was signed and its
    /// index line covers less than its tree (or it has none), is signed again at the same size
    /// and root with the index of the whole tree once the index covers it (default: yes). A
    /// size then has two checkpoints (`sql/V37__checkpoints_by_index.sql`), which binaries older
    /// than V37 do not read: `false` while any still reads this database.
    pub fn with_idle_resign(mut self, resign: bool) -> Self {
        self.resign_idle = resign;
        self
    }

    /// When the oldest entry the index does not cover (of the tree's `size`, the index covering
    /// `indexed`) was first seen by a tick, near enough.
    fn uncovered_since(&self, size: TreeSize, indexed: TreeSize) -> std::time::Instant {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        if seen.back().is_none_or(|(last, _)| *last < size) && seen.len() < MAX_SEEN {
            seen.push_back((size, now));
        }
        while seen.front().is_some_and(|(first, _)| *first <= indexed) {
            seen.pop_front();
        }
        seen.front().map_or(now, |(_, at)| *at)
    }

    /// Signs and stores a checkpoint if the tree has grown past the latest checkpoint: of the
    /// tree as far as the verifiable index covers it, or, after a wait, of the whole tree
    /// ([`with_index_wait`](Self::with_index_wait)); returns it, or `None` when there was nothing
    /// new (or another process is signing right now, or the index is being waited for).
    pub async fn sign_latest(&self) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        self.sign(true).await
    }

    /// Signs a checkpoint of the whole tree now, with the index as it is: what a stopping
    /// process does last, so that nothing it appended stays uncovered.
    pub async fn sign_all_now(&self) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        self.sign(false).await
    }

    async fn sign(
        &self,
        follow_index: bool,
    ) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        let mut client = self
            .store
            .pool()
            .get()
            .await
            .map_err(|error| self.uncompared(CheckpointStoreError::Pool(error)))?;
        // The head of the verifiable index the checkpoint will commit to, stored (with the runs it
        // lists kept) in a transaction of its own: it stays whatever becomes of the checkpoint row,
        // so that a note published before its row failed still has its head.
        let index = {
            let transaction = client
                .transaction()
                .await
                .map_err(|error| self.uncompared(error.into()))?;
            // The merger holds the lock only while it retires runs and picks those to delete; a
            // lock held longer (a stuck session) costs this checkpoint its index line, not its
            // signature.
            transaction
                .batch_execute("SET LOCAL lock_timeout = '1s'")
                .await
                .map_err(|error| self.uncompared(error.into()))?;
            let index = match transaction
                .execute("SELECT pg_advisory_xact_lock($1)", &[&locks::INDEX_HEADS])
                .await
            {
                Ok(_) => index_runs::commit_head(&transaction)
                    .await
                    .map_err(|error| self.uncompared(error.into()))?,
                Err(error)
                    if error.code()
                        == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) =>
                {
                    tracing::warn!(
                        "the verifiable index's heads stayed locked: checkpoint signed without the index"
                    );
                    None
                }
                Err(error) => return Err(self.uncompared(error.into())),
            };
            transaction
                .commit()
                .await
                .map_err(|error| self.uncompared(error.into()))?;
            index
        };
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
        // An idle log's newest checkpoint is signed again, at its size and root, once the index
        // covers its whole tree and its index line did not (it was signed while the index
        // trailed, or before the index's first run): otherwise the entries it left out stay
        // unproven until the next entry is appended. Once: the new one's index covers it all.
        let old_index = latest.as_ref().map_or(0, |c| index_size_of(&c.note));
        let refresh = self.resign_idle
            && size == old
            && old_index < size.get()
            && index.is_some_and(|index| index.size == size);
        if size == TreeSize::ZERO || (size <= old && !refresh) {
            return Ok(None);
        }
        // Where the index stands decides the size (`with_index_wait`), never below the newest
        // checkpoint published (a database restored without its row must not make the log's
        // newest checkpoint go backwards).
        let follow_index = follow_index && !self.index_wait.is_zero();
        let size = match index {
            Some(index) if follow_index && index.size < size => {
                let published = match &self.witness {
                    Some(witness) => witness
                        .newest()
                        .await
                        .as_ref()
                        .map_or(TreeSize::ZERO, |published| published.size),
                    None => TreeSize::ZERO,
                };
                let waited = self.uncovered_since(size, index.size).elapsed() >= self.index_wait;
                if waited || published > index.size {
                    size
                } else if index.size > old {
                    index.size
                } else {
                    return Ok(None);
                }
            }
            _ => size,
        };
        // Never a smaller index than the newest checkpoint's: a head read before another signer
        // committed a larger one may be gone already (the merger deletes smaller heads). Sign at
        // the next tick, with the head as it is then.
        let committed = index_runs::newest_committed_size(&transaction).await?;
        if index.is_some_and(|index| index.size.get() < committed) {
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
        // A checkpoint of this tree already published (its row was not stored) is stored as
        // published: whatever the index has reached since, nothing published is contradicted.
        // (Signing again, that is one whose index covers more than the stored one's: the stored
        // one, published, is not stored twice.)
        let published = match &self.witness {
            Some(witness) => witness
                .newest()
                .await
                .as_ref()
                .filter(|published| published.size == size && published.root == root)
                .filter(|published| !refresh || index_size_of(&published.note) > old_index)
                .map(|published| published.note.clone()),
            None => None,
        };
        let published = match published {
            // Its index head must still be stored, and not smaller than the newest checkpoint's
            // (after a restored backup it may not be): otherwise no row for it, and the next
            // checkpoint, of a larger tree, is signed afresh; or this one, signing again (its
            // index covers the whole tree: nothing published is contradicted).
            Some(note) => match index_runs::commitment_of_note(&note) {
                Some(index)
                    if index.size.get() < committed
                        || !index_runs::head_is_stored(&transaction, &index).await? =>
                {
                    if !refresh {
                        return Ok(None);
                    }
                    None
                }
                _ => Some(note),
            },
            None => None,
        };
        let note = match published {
            Some(note) => note,
            None => {
                // The checkpoint commits to the verifiable index's head (its one extension line);
                // the index never covers more than the tree (it was read before `size`).
                let plain = Checkpoint::new(self.origin.clone(), size, root);
                let checkpoint = match index.filter(|index| index.size <= size) {
                    // An index line is never empty nor holds a control character: accepted.
                    Some(index) => plain
                        .clone()
                        .with_extensions(vec![index.to_line()])
                        .unwrap_or(plain),
                    None => plain,
                };
                let signers: Vec<&NoteSignerKey> = self.signers.iter().map(AsRef::as_ref).collect();
                checkpoint
                    .sign(&signers)
                    .map_err(CheckpointStoreError::Sign)?
                    .to_message()
            }
        };
        // Recorded outside the database before the row publishes it: a restored database can
        // lose the row, not this record. (A row that then fails to be stored is signed again,
        // identically, at the next tick: Ed25519 signatures are deterministic.)
        if let Some(witness) = &self.witness {
            let mut newest = witness.newest().await;
            if newest.as_ref().is_none_or(|published| {
                (size, index_size_of(&note)) > (published.size, index_size_of(&published.note))
            }) {
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
        let verifiers: Vec<String> = self
            .signers
            .iter()
            .map(|signer| signer.verifier_key().to_string())
            .collect();
        transaction.execute(INSERT_KEYS, &[&verifiers]).await?;
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
                let signed = match stopping {
                    false => self.sign_latest().await,
                    true => self.sign_all_now().await,
                };
                match signed {
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

/// Why a published checkpoint could not be opened.
#[derive(Debug)]
enum OpenError {
    /// It is not a checkpoint of this log signed by one of its keys.
    Invalid(CheckpointError),
    /// None of the configured keys signed it, and the keys the log signed with before could not
    /// be read.
    FormerKeys(SigningKeysError),
}

impl Log {
    /// Every key that signed a checkpoint of this log, as the `signing_keys` table lists them
    /// (the checkpointer registers each of its keys there with every checkpoint), oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKey>, SigningKeysError> {
        let client = self.pool().get().await.map_err(SigningKeysError::Pool)?;
        let rows = client
            .query(SELECT_SIGNING_KEYS, &[])
            .await
            .map_err(SigningKeysError::Query)?;
        rows.iter()
            .map(|row| {
                Ok(SigningKey {
                    key: verifier_key_from_row(row)?,
                    added_at: row.get(1),
                })
            })
            .collect()
    }

    /// The checkpoint with the largest tree size, if any.
    pub async fn latest_checkpoint(
        &self,
    ) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        self.one_checkpoint(SELECT_LATEST, &[]).await
    }

    /// The checkpoint with the smallest tree size, if any (its origin line names the log).
    pub async fn oldest_checkpoint(
        &self,
    ) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        self.one_checkpoint(SELECT_OLDEST, &[]).await
    }

    /// The checkpoint of exactly `size` leaves, if one was signed.
    pub async fn checkpoint(
        &self,
        size: TreeSize,
    ) -> Result<Option<StoredCheckpoint>, CheckpointStoreError> {
        let size = i64::try_from(size.get()).unwrap_or(i64::MAX);
        self.one_checkpoint(SELECT_BY_SIZE, &[&size]).await
    }

    /// How long ago the oldest checkpoint of more than `size` leaves was signed, by the
    /// database's clock (`None`: no checkpoint is that large). How far anchors trail the log.
    pub async fn signed_since(&self, size: u64) -> Result<Option<Duration>, ReadError> {
        let client = self.pool().get().await?;
        let statement = client.prepare_cached(SELECT_SIGNED_SINCE).await?;
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let seconds: Option<f64> = client.query_one(&statement, &[&size]).await?.get(0);
        Ok(seconds.map(|seconds| Duration::from_secs_f64(seconds.max(0.0))))
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

impl Reader {
    /// The checkpoint with the largest tree size, if any, the live lookup runs and how far they
    /// reach ([`indexed_through`](Self::indexed_through)), and the newest error declaration, read
    /// together in one snapshot: what a reader needs to answer as of the newest checkpoint.
    pub async fn reader_view(&self) -> Result<ReaderView, CheckpointStoreError> {
        let client = self
            .pool()
            .get()
            .await
            .map_err(CheckpointStoreError::Pool)?;
        let statement = client.prepare_cached(SELECT_READER_VIEW).await?;
        let row = client.query_one(&statement, &[]).await?;
        let indexed: i64 = row.get(3);
        let runs: Vec<i64> = row.get(4);
        let checkpoint = match row.get::<_, Option<i64>>(0) {
            Some(_) => Some(checkpoint_from_row(&row)?),
            None => None,
        };
        Ok(ReaderView {
            checkpoint,
            runs: LiveRuns::new(runs, u64::try_from(indexed).unwrap_or(0)),
            declarations: Declarations(row.get(5)),
        })
    }
}

/// The verifier keys in `signing_keys`, oldest first, read through `client`.
async fn signing_keys_in<C: GenericClient>(
    client: &C,
) -> Result<Vec<NoteVerifierKey>, SigningKeysError> {
    let rows = client
        .query(SELECT_SIGNING_KEYS, &[])
        .await
        .map_err(SigningKeysError::Query)?;
    rows.iter().map(verifier_key_from_row).collect()
}

/// The verifier key of a `signing_keys` row.
fn verifier_key_from_row(row: &tokio_postgres::Row) -> Result<NoteVerifierKey, SigningKeysError> {
    let key: String = row.get(0);
    NoteVerifierKey::parse(&key).map_err(|source| SigningKeysError::Corrupt { key, source })
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

/// The size of the index a checkpoint's note commits to (0: none), as `checkpoints.index_size`
/// reads it.
fn index_size_of(note: &str) -> u64 {
    index_runs::commitment_of_note(note).map_or(0, |index| index.size.get())
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
