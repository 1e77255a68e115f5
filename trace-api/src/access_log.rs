//! The access log (`[access_log]`, `sql/V28__access_log.sql`, `ledger::access_log`): every
//! answer of a credentialed route (the EPCIS query interface, traces, exports) is an entry,
//! written on the primary as a role in `tagtrail_access` *before* the answer leaves, and the
//! answer names it (`TagTrail-Access-Entry: <leaf index>`). An answer whose entry cannot be
//! written is not given (`503`); a service without `[access_log]` gives none.
//!
//! The entries are the leaves of a second RFC 6962 tree of the ledger's kind. This process keeps
//! the whole tree in memory ([`ledger::tree::MemoryTree`], about 64 bytes an entry), follows the
//! table (every process appends to it, under one advisory lock, with gapless leaf indexes; the
//! entries of answers made at once in one transaction), and
//! every `checkpoint_interval` signs a C2SP checkpoint of it when it has grown, after checking
//! that the rows still hash to the newest stored checkpoint (rows rewritten behind the
//! service's back stop the signing, loudly). Public: the checkpoint and the hash tiles
//! (`/access-log/checkpoint`, `/access-log/tile/...`), so that anyone can check each checkpoint
//! extends the one before; private: the entries, each grantee listing its own with their
//! inclusion proofs (`/access-log/entries`).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ledger::access_log::{AccessEntry, ENTRY_VERSION, ListedEntry, Listing, MAX_LISTED};
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::note::NoteSignerKey;
use ledger::tiles::{TILE_HEIGHT, TILE_WIDTH, TileId};
use ledger::tree::{MemoryTree, NodeId, prove_inclusion};
use ledger::{Hash, LeafIndex, RootHash, TreeSize, leaf_hash};
use registry::Access;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::{AccessLogConfig, DatabaseConfig};
use crate::metrics::Metrics;
use crate::problem::Problem;

/// The default size of the primary's pool for the access log.
const DEFAULT_POOL_SIZE: usize = 4;

/// The advisory lock an appender holds (for its transaction) while it takes the next leaf
/// index: ASCII "tagtra" and a number no lock of `ledger_store::locks` uses.
const APPEND_LOCK: i64 = 0x7461_6774_7261_0008;

/// The most rows one catch-up statement reads.
const CATCH_UP_ROWS: i64 = 16_384;

/// A signed checkpoint of the access log.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    pub size: TreeSize,
    pub root: RootHash,
    pub note: String,
}

/// The access log of this process.
pub struct AccessLog {
    pool: deadpool_postgres::Pool,
    /// The subscription workers' connections, one each (`subscriptions.workers`), apart from
    /// [`Self::pool`]: a worker holds its subscription's row locked while its receiver answers,
    /// and the entries it records are written through `pool` meanwhile.
    deliveries: deadpool_postgres::Pool,
    signer: Arc<NoteSignerKey>,
    origin: Origin,
    /// The tree of every entry this process has read back, in leaf order.
    tree: RwLock<MemoryTree>,
    /// The newest checkpoint stored.
    newest: RwLock<Option<Arc<SignedCheckpoint>>>,
    /// Entries waiting for the writer.
    queue: mpsc::Sender<Pending>,
}

/// An entry waiting to be written, and who waits for its leaf index.
struct Pending {
    token: String,
    text: String,
    leaf: Hash,
    done: oneshot::Sender<Result<u64, String>>,
}

/// Entries waiting for the writer; more are refused (`503`), never queued without bound.
const QUEUE: usize = 4096;
/// The most entries one transaction writes.
const BATCH: usize = 512;

/// Writes the queued entries, each batch in one transaction under the append lock, their leaf
/// indexes following the table's last; tells each waiter its index once committed, or why not.
/// Ends when every sender is gone.
async fn write_batches(pool: deadpool_postgres::Pool, mut queue: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let written = write_batch(&pool, &batch).await;
        for (offset, pending) in batch.drain(..).enumerate() {
            let answer = match &written {
                Ok(first) => Ok(first + offset as u64),
                Err(cause) => Err(cause.clone()),
            };
            // A waiter that went away (its request ended) has its entry written all the same.
            let _ = pending.done.send(answer);
        }
    }
}

/// Writes `batch` as the next leaves: the first one's index.
async fn write_batch(pool: &deadpool_postgres::Pool, batch: &[Pending]) -> Result<u64, String> {
    let chain = |error: &dyn std::error::Error| service_kit::ErrorChain(error).to_string();
    let mut client = pool.get().await.map_err(|e| chain(&e))?;
    let transaction = client.transaction().await.map_err(|e| chain(&e))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
        .await
        .map_err(|e| chain(&e))?;
    let first: i64 = transaction
        .query_one(
            "SELECT coalesce(max(leaf_index) + 1, 0) FROM access_log",
            &[],
        )
        .await
        .map_err(|e| chain(&e))?
        .get(0);
    let count = i64::try_from(batch.len()).map_err(|e| chain(&e))?;
    let indexes: Vec<i64> = (first..first + count).collect();
    let tokens: Vec<&str> = batch.iter().map(|p| p.token.as_str()).collect();
    let texts: Vec<&str> = batch.iter().map(|p| p.text.as_str()).collect();
    let leaves: Vec<&[u8]> = batch.iter().map(|p| p.leaf.as_bytes().as_slice()).collect();
    transaction
        .execute(
            "INSERT INTO access_log (leaf_index, token_id, entry, leaf_hash) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[])",
            &[&indexes, &tokens, &texts, &leaves],
        )
        .await
        .map_err(|e| chain(&e))?;
    transaction.commit().await.map_err(|e| chain(&e))?;
    Ok(first.unsigned_abs())
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl AccessLog {
    /// From `[access_log]`, when it is set: the key read now, the pool opened lazily (with the
    /// `[database]` timeouts), the signer started (it stops when `stop` is cancelled).
    pub fn start(
        config: &AccessLogConfig,
        database: &DatabaseConfig,
        delivery_workers: usize,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        // `Config::check` requires both with `url`.
        let key = config
            .signing_key
            .as_deref()
            .context("access_log.signing_key is required with access_log.url")?;
        let origin = config
            .origin
            .as_deref()
            .context("access_log.origin is required with access_log.url")?;
        let signer = crate::startup::read_signing_key(key, "access_log.signing_key")?;
        let origin = Origin::parse(origin).context("access_log.origin")?;
        let pg_config =
            crate::startup::session_config_of(url, database, "tagtrail-trace-api-access-log")
                .context("access_log.url is not a PostgreSQL connection URL")?;
        let pool = crate::startup::lazy_pool(
            pg_config.clone(),
            config.pool_size.unwrap_or(DEFAULT_POOL_SIZE),
            database,
        )
        .context("Failed to set up the access log's database pool")?;
        let deliveries = crate::startup::lazy_pool(pg_config, delivery_workers, database)
            .context("Failed to set up the subscription deliveries' database pool")?;
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(pool.clone(), waiting));
        let log = Arc::new(Self {
            queue,
            pool,
            deliveries,
            signer: Arc::new(signer),
            origin,
            tree: RwLock::new(MemoryTree::new()),
            newest: RwLock::new(None),
        });
        tokio::spawn(sign_every(
            log.clone(),
            config.checkpoint_interval,
            metrics,
            stop,
        ));
        Ok(Some(log))
    }

    /// The entry of an answer `access` asked for with `request` (its body's SHA-256, when it had
    /// one), holding `answered` events as of the ledger checkpoint of `as_of` entries.
    pub fn entry(
        access: &Access,
        request: &actix_web::HttpRequest,
        body: Option<&[u8]>,
        answered: usize,
        as_of: TreeSize,
    ) -> Result<AccessEntry, Problem> {
        let uri = request.uri();
        let target = uri.path_and_query().map_or_else(
            || uri.path().to_owned(),
            |target| target.as_str().to_owned(),
        );
        Self::entry_of(
            access,
            request.method().as_str(),
            target,
            body,
            answered,
            as_of,
        )
    }

    /// The entry of an answer to `access` made by `method` on `target` (a request's, or `PUSH`
    /// for a subscription's delivery), its body's SHA-256 when it had one.
    pub fn entry_of(
        access: &Access,
        method: &str,
        target: String,
        body: Option<&[u8]>,
        answered: usize,
        as_of: TreeSize,
    ) -> Result<AccessEntry, Problem> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|error| {
            Problem::Internal(format!("no randomness for an access-log nonce: {error}"))
        })?;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        Ok(AccessEntry {
            access_log: ENTRY_VERSION,
            at: ledger::ids::UnixMillis::from_millis(millis).to_rfc3339(),
            token: access.token.as_str().to_owned(),
            role: access.role.as_str().to_owned(),
            sites: access
                .sites
                .iter()
                .map(|site| site.as_str().to_owned())
                .collect(),
            method: method.to_owned(),
            target,
            body_sha256: body.map(|body| {
                use sha2::Digest as _;
                hex(&sha2::Sha256::digest(body))
            }),
            answered: answered as u64,
            as_of: as_of.get(),
            nonce: hex(&nonce),
        })
    }

    /// Writes `entry` as the next leaf; returns its leaf index once it is durable. Entries asked
    /// for at once are written together, in one transaction (by `write_batches`): one commit
    /// for many answers.
    pub async fn record(&self, entry: &AccessEntry) -> Result<u64, Problem> {
        let text = String::from_utf8(entry.to_bytes())
            .map_err(|error| Problem::Internal(format!("an access entry not UTF-8: {error}")))?;
        if text.len() > ledger::access_log::MAX_ENTRY_BYTES {
            return Err(Problem::Internal(format!(
                "an access entry of {} bytes (at most {})",
                text.len(),
                ledger::access_log::MAX_ENTRY_BYTES
            )));
        }
        let (done, written) = oneshot::channel();
        let pending = Pending {
            token: entry.token.clone(),
            leaf: leaf_hash(text.as_bytes()),
            text,
            done,
        };
        self.queue.try_send(pending).map_err(|_| {
            Problem::Unrecorded(Some(
                "the access log's queue is full: its database keeps up with fewer answers"
                    .to_owned(),
            ))
        })?;
        match written.await {
            Ok(Ok(index)) => Ok(index),
            Ok(Err(cause)) => Err(Problem::Unrecorded(Some(cause))),
            Err(_) => Err(Problem::Unrecorded(Some(
                "the access log's writer stopped".to_owned(),
            ))),
        }
    }

    /// The primary's pool of the access log's role (named queries are kept with it too).
    pub fn pool(&self) -> &deadpool_postgres::Pool {
        &self.pool
    }

    /// The subscription workers' pool of the access log's role.
    pub fn delivery_pool(&self) -> &deadpool_postgres::Pool {
        &self.deliveries
    }

    /// `text` signed with the access log's key, as a C2SP signed note (what the service says of
    /// a subscription's delivery).
    pub fn sign_note(&self, text: &str) -> Result<String, ledger::note::NoteError> {
        Ok(ledger::note::Note::sign(text, &[&self.signer])?.to_message())
    }

    /// The newest signed checkpoint, when one is.
    pub fn newest(&self) -> Option<Arc<SignedCheckpoint>> {
        self.newest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A hash tile of the tree of the newest checkpoint (`None`: that tree holds no such tile).
    pub fn tile(&self, id: TileId) -> Option<Vec<u8>> {
        let newest = self.newest()?;
        let size = newest.size.get();
        let level = u32::from(id.level()) * u32::from(TILE_HEIGHT);
        let first = id.index().checked_mul(TILE_WIDTH as u64)?;
        let width = u64::from(id.width());
        // Every node the tile holds is complete in the checkpoint's tree.
        let end = first.checked_add(width)?;
        if end.checked_shl(level)? > size || level >= 64 {
            return None;
        }
        let tree = self
            .tree
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut bytes = Vec::with_capacity(32 * id.width() as usize);
        for index in first..end {
            let node = NodeId::new(u8::try_from(level).ok()?, index).ok()?;
            bytes.extend_from_slice(tree.node(node)?.as_bytes());
        }
        Some(bytes)
    }

    /// The entries of `token` from leaf `from` on that the newest checkpoint covers (at most
    /// [`MAX_LISTED`]), each with its inclusion proof to it.
    pub async fn listing(&self, token: &str, from: u64) -> Result<Listing, Problem> {
        let Some(newest) = self.newest() else {
            return Err(Problem::NotYetProvable(
                "the access log has no signed checkpoint yet".to_owned(),
            ));
        };
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| Problem::unavailable(&e))?;
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let size = i64::try_from(newest.size.get()).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT leaf_index, entry FROM access_log \
                 WHERE token_id = $1 AND leaf_index >= $2 AND leaf_index < $3 \
                 ORDER BY leaf_index LIMIT $4",
                &[&token, &from, &size, &(MAX_LISTED as i64 + 1)],
            )
            .await
            .map_err(|e| Problem::unavailable(&e))?;
        let mut entries = Vec::with_capacity(rows.len().min(MAX_LISTED));
        let mut next_from = None;
        let tree = self
            .tree
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for row in &rows {
            let index: i64 = row.get(0);
            let index = index.unsigned_abs();
            if entries.len() == MAX_LISTED {
                next_from = Some(index);
                break;
            }
            let leaf = LeafIndex::new(index).map_err(|e| Problem::internal(&e))?;
            let proof = prove_inclusion(&*tree, leaf, newest.size)
                .map_err(|error| Problem::Internal(format!("access-log proof: {error}")))?;
            entries.push(ListedEntry {
                leaf_index: index,
                entry: row.get(1),
                inclusion_proof: proof.hashes().iter().map(Hash::to_base64).collect(),
            });
        }
        Ok(Listing {
            checkpoint: newest.note.clone(),
            token: token.to_owned(),
            entries,
            next_from,
        })
    }

    /// Reads the entries appended since the tree was last read, then signs a checkpoint of the
    /// tree if it has grown past the newest stored one (and holds anything).
    async fn sign_once(&self) -> anyhow::Result<()> {
        let client = self.pool.get().await?;
        loop {
            let have = self.tree_size();
            let rows = client
                .query(
                    "SELECT leaf_index, leaf_hash FROM access_log WHERE leaf_index >= $1 \
                     ORDER BY leaf_index LIMIT $2",
                    &[&i64::try_from(have).unwrap_or(i64::MAX), &CATCH_UP_ROWS],
                )
                .await?;
            let read = rows.len();
            {
                let mut tree = self
                    .tree
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for row in rows {
                    let index: i64 = row.get(0);
                    // Indexes are gapless: an appender holds the lock until it commits.
                    anyhow::ensure!(
                        index.unsigned_abs() == tree.size().get() && index >= 0,
                        "the access log skips from {} to {index}",
                        tree.size()
                    );
                    let hash: &[u8] = row.get(1);
                    tree.push_leaf_hash(Hash::from_slice(hash)?)
                        .map_err(|_| anyhow::anyhow!("the access log's tree is full"))?;
                }
            }
            if read < CATCH_UP_ROWS as usize {
                break;
            }
        }
        let latest = client
            .query_opt(
                "SELECT tree_size, root_hash, note FROM access_log_checkpoints \
                 ORDER BY tree_size DESC LIMIT 1",
                &[],
            )
            .await?;
        let latest = match latest {
            Some(row) => {
                let size: i64 = row.get(0);
                let size = TreeSize::new(size.unsigned_abs())?;
                let root: &[u8] = row.get(1);
                let root = RootHash::from_hash(Hash::from_slice(root)?);
                // The rows as read must still hash to what was signed: an entry changed or
                // removed behind the service's back is never signed over.
                let ours = self.root_at(size)?;
                anyhow::ensure!(
                    ours == root,
                    "the access log's rows no longer hash to its checkpoint of {size} entries: \
                     rows were changed behind the service's back; no checkpoint is signed"
                );
                Some(SignedCheckpoint {
                    size,
                    root,
                    note: row.get(2),
                })
            }
            None => None,
        };
        let size = TreeSize::new(self.tree_size())?;
        // An empty log has nothing to sign (the table refuses a checkpoint of size 0).
        let grown = latest.as_ref().is_none_or(|latest| size > latest.size);
        let newest = if grown && size.get() > 0 {
            let root = self.root_at(size)?;
            let note = Checkpoint::new(self.origin.clone(), size, root)
                .sign(&[&self.signer])?
                .to_message();
            let size_column = i64::try_from(size.get())?;
            client
                .execute(
                    "INSERT INTO access_log_checkpoints (tree_size, root_hash, note) \
                     VALUES ($1, $2, $3) ON CONFLICT (tree_size) DO NOTHING",
                    &[&size_column, &root.as_bytes().as_slice(), &note],
                )
                .await?;
            // Another process may have stored its own note of this size first: serve that one.
            let stored: String = client
                .query_one(
                    "SELECT note FROM access_log_checkpoints WHERE tree_size = $1",
                    &[&size_column],
                )
                .await?
                .get(0);
            Some(SignedCheckpoint {
                size,
                root,
                note: stored,
            })
        } else {
            latest
        };
        *self
            .newest
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = newest.map(Arc::new);
        Ok(())
    }

    fn tree_size(&self) -> u64 {
        self.tree
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .size()
            .get()
    }

    fn root_at(&self, size: TreeSize) -> anyhow::Result<RootHash> {
        self.tree
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .root_at(size)
            .map_err(|error| anyhow::anyhow!("{error}"))
    }
}

/// Signs every `interval` until `stop` fires; a failure is logged and tried again.
async fn sign_every(
    log: Arc<AccessLog>,
    interval: Duration,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    loop {
        if let Err(error) = log.sign_once().await {
            metrics.access_log_unsigned();
            tracing::error!(
                error = format!("{error:#}"),
                "the access log's checkpoint was not signed"
            );
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Bytes as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}
