//! [`audit`]: re-verifies a whole stored log from its rows.
//!
//! The leaf records are read in leaf order from the entry bundle rows (one `COPY ... TO STDOUT
//! BINARY` stream of one row per 256 entries), together with the tiles, device batches and
//! checkpoints (three more streams) and, when event hashes are recomputed, the events (two more
//! streams, alternating blocks of entries), all in one exported snapshot, so an audit of a log being
//! appended to sees one consistent state. The audit checks that the bundle rows hold every entry
//! exactly once and up to where the events end, decodes each leaf record and checks that it names
//! a stored device batch holding its event (and checks each batch's Ed25519 signature under the keys
//! its caller gives for its device, read from the registry: any key the device has had; batches of
//! devices it holds no key for, as in logs written without ingest, are counted and not checked),
//! rebuilds the tree's tiles from the leaf hashes and
//! compares every stored tile row with them, recomputes the root at every checkpoint's size and
//! checks the checkpoint's signature, and checks an RFC 9162 consistency proof between consecutive
//! checkpoints. With event hashes, it also checks that every entry's event is stored under the
//! hash its leaf record names, and recomputes that CBV 2.0 hash from the stored JSON (on worker
//! threads). Without them, the events are not read (only where they end): the log's structure and
//! signatures are checked at the speed of reading bundles.
//!
//! The work is pipelined: the database streams are split into fields in place (no allocation per
//! row, [`super::copy`]), decoding threads split the bundle rows and decode and hash each leaf
//! record, the checking thread checks attestations, tiles and checkpoints, and hashing threads
//! recompute event hashes.
//!
//! The first problem (in log order) is reported as data, with the entry, tile, batch or checkpoint
//! it is about. When a stored tile disagrees with the leaves, the next signed checkpoint decides
//! which of the two was changed: a root that matches the leaves clears them and blames the tile.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{GenericClient, Object};
use futures_util::{StreamExt, pin_mut};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_postgres::{IsolationLevel, Transaction};

use epcis::EventHash;
use epcis::hash::{HashContext, event_hash};
use ledger::batch::{BatchStatement, DeviceKeyring, DeviceSignature, EventBatch};
use ledger::checkpoint::{Checkpoint, Origin, TrustedLog};
use ledger::hash::{Hash, RootHash, leaf_hash};
use ledger::note::{Note, NoteVerifierKey, NoteVerifiers};
use ledger::record::{Attestation, LeafRecord};
use ledger::size::TreeSize;
use ledger::tiles::{TILE_WIDTH, Tile, TileFrontier, TileId, TileSet, tiles_for_nodes};
use ledger::tree::HashReader;
use ledger::tree::{ConsistencyProof, ProofPlan};

use super::bundles::{BUNDLE, row_records};
use super::copy::{Column, CopyDecoder, CopyRow};
use super::log::{ProofError, Store, read_tiles};
use super::packs;

/// Rows per chunk handed from the database streams to the checking thread.
const CHUNK: usize = 4096;
/// Entry bundle rows per chunk handed to a decoding thread (each holds up to 256 leaf records).
const BUNDLE_CHUNK: usize = 4;
/// Device batch rows per chunk handed to the batch-checking thread (each costs a signature check).
const BATCH_CHUNK: usize = 32;
/// Threads that split, decode and hash the leaf records of entry bundle rows.
const DECODERS: usize = 2;
const BUNDLES: &str = "COPY (SELECT bundle_index, first, width, entries FROM entry_bundles
    ORDER BY bundle_index, first) TO STDOUT (FORMAT binary)";
/// `(leaf_index, event_hash, event)`.
const EVENT_COLUMNS: &[Column] = &[Column::Int8, Column::Bytes, Column::Bytes];
/// Chunks buffered per stream.
const CHANNEL_CHUNKS: usize = 8;
/// The most leaves hashed before the tiles are brought up to date even without a tile row due.
const MAX_SEGMENT: u64 = 1 << 16;
/// Consecutive checkpoint pairs whose consistency proofs are read in one query.
const PROOFS_PER_QUERY: usize = 64;

/// Entries are read in blocks of this many leaves, alternately on two connections, so that two
/// database processes produce them (small blocks in unit tests, to cross many).
const EVENT_BLOCK: u64 = if cfg!(test) { 16 } else { 1 << 16 };
/// The connections reading entries.
const EVENT_STREAMS: usize = 2;
/// Tile rows in the order the rebuilt tree reaches them: by the tree size at which the row's last
/// hash came into being, `(256 * tile_index + width) * 256^level`, lower levels first.
const TILES: &str = "COPY (SELECT level, tile_index, width, hashes FROM tiles
    ORDER BY (tile_index * 256 + width)::numeric * power(256::numeric, level), level)
    TO STDOUT (FORMAT binary)";
const BATCHES: &str = "COPY (SELECT statement_hash, statement, signature_algorithm, signature,
    event_hashes, first_leaf_index FROM device_batches ORDER BY first_leaf_index, statement_hash)
    TO STDOUT (FORMAT binary)";
const CHECKPOINTS: &str = "COPY (SELECT tree_size, root_hash, note FROM checkpoints
    ORDER BY tree_size) TO STDOUT (FORMAT binary)";

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

/// Something stored that does not hold, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProblem {
    /// An entry (its event, event hash or leaf record).
    Entry { leaf_index: u64, reason: String },
    /// A stored tile row (`tile/<level>/<index>[.p/<width>]`).
    Tile {
        level: u8,
        index: u64,
        width: u16,
        reason: String,
    },
    /// A stored device batch.
    DeviceBatch {
        statement_hash: String,
        reason: String,
    },
    /// A stored checkpoint.
    Checkpoint { tree_size: u64, reason: String },
    /// A stored signing key.
    SigningKey { key: String, reason: String },
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Entry { leaf_index, reason } => write!(f, "entry {leaf_index}: {reason}"),
            Self::Tile {
                level,
                index,
                width,
                reason,
            } => match TileId::new(*level, *index, *width) {
                Ok(id) => write!(f, "tile {}: {reason}", id.path()),
                Err(_) => write!(
                    f,
                    "tile (level {level}, index {index}, width {width}): {reason}"
                ),
            },
            Self::DeviceBatch {
                statement_hash,
                reason,
            } => write!(f, "device batch {statement_hash}: {reason}"),
            Self::Checkpoint { tree_size, reason } => {
                write!(f, "checkpoint at tree size {tree_size}: {reason}")
            }
            Self::SigningKey { key, reason } => write!(f, "signing key {key}: {reason}"),
        }
    }
}

/// Why the audit could not run to a verdict (reading failed; not a problem in the data).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("failed to get a database connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error("database query failed while auditing")]
    Query(#[source] tokio_postgres::Error),
    #[error("failed to read proofs from the stored tiles")]
    Proof(#[source] ProofError),
    #[error("the database sent a malformed COPY row: {0}")]
    Copy(String),
    #[error("an audit thread failed")]
    Thread,
    #[error(
        "the audit reads over {needed} connections of one snapshot, but the store's pool holds at most {max_size}"
    )]
    PoolTooSmall {
        /// Connections the audit needs at once ([`AUDIT_CONNECTIONS`]).
        needed: usize,
        /// The pool's size.
        max_size: usize,
    },
    #[error("failed to read the device keys")]
    DeviceKeys(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<tokio_postgres::Error> for AuditError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Query(error)
    }
}

/// Connections an audit holds at once (entry bundles, two event streams, tiles, batches,
/// checkpoints): the store's pool must have at least this many.
pub const AUDIT_CONNECTIONS: usize = 6;

/// Audits the whole log in `store`: see the module documentation for what is checked. The store's
/// pool must hold at least [`AUDIT_CONNECTIONS`] connections (a smaller one is refused at once
/// rather than waited on for ever).
///
/// `device_keys` reads the keys of the devices (any key each has had) in the audit's snapshot,
/// given its transaction: the `registry` crate's `device_keys`, or [`given_keys`] for a keyring
/// already in hand. The store does not read the registry's tables itself.
pub async fn audit<K, E>(
    store: &Store,
    options: AuditOptions,
    device_keys: K,
    progress: Arc<dyn AuditProgress>,
) -> Result<AuditReport, AuditError>
where
    K: AsyncFnOnce(&Transaction<'_>) -> Result<DeviceKeyring, E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let max_size = store.pool().status().max_size;
    if max_size < AUDIT_CONNECTIONS {
        return Err(AuditError::PoolTooSmall {
            needed: AUDIT_CONNECTIONS,
            max_size,
        });
    }
    let mut connections: Vec<Object> = Vec::with_capacity(AUDIT_CONNECTIONS);
    for _ in 0..AUDIT_CONNECTIONS {
        connections.push(store.pool().get().await.map_err(AuditError::Pool)?);
    }
    let [
        bundles_client,
        events_client,
        more_events_client,
        tiles_client,
        batches_client,
        checkpoints_client,
    ] = connections.as_mut_slice()
    else {
        return Err(AuditError::Thread);
    };
    let bundles_tx = bundles_client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let snapshot: String = bundles_tx
        .query_one("SELECT pg_export_snapshot()", &[])
        .await?
        .get(0);
    // The log's size is where its events end (the last event pack); the leaf records must end
    // there too.
    let size: i64 = bundles_tx.query_one(packs::TREE_SIZE, &[]).await?.get(0);
    let size = u64::try_from(size).unwrap_or(0);
    let keys: Vec<String> = bundles_tx
        .query(
            "SELECT verifier_key FROM signing_keys ORDER BY verifier_key",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let device_keys = device_keys(&bundles_tx)
        .await
        .map_err(|error| AuditError::DeviceKeys(error.into()))?;
    let mut others = Vec::with_capacity(5);
    for client in [
        events_client,
        more_events_client,
        tiles_client,
        batches_client,
        checkpoints_client,
    ] {
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        tx.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
            .await?;
        others.push(tx);
    }
    let [
        events_tx,
        more_events_tx,
        tiles_tx,
        batches_tx,
        checkpoints_tx,
    ] = others.as_slice()
    else {
        return Err(AuditError::Thread);
    };

    progress.started(size);
    let recompute = options.recompute_event_hashes;
    // Entry bundle rows go round-robin to the decoding threads, which split, decode and hash the
    // leaf records; the checking thread takes their output back in the same order.
    let mut bundle_outs = Vec::with_capacity(DECODERS);
    let mut decoded_ins = Vec::with_capacity(DECODERS);
    let mut decoders = Vec::with_capacity(DECODERS);
    for _ in 0..DECODERS {
        let (bundle_out, bundle_in) = mpsc::channel(CHANNEL_CHUNKS);
        let (decoded_out, decoded_in) = mpsc::channel(CHANNEL_CHUNKS);
        bundle_outs.push(bundle_out);
        decoded_ins.push(decoded_in);
        decoders.push(tokio::task::spawn_blocking(move || {
            decode_bundles(bundle_in, decoded_out)
        }));
    }
    let (events_out, events_in) = mpsc::channel(CHANNEL_CHUNKS);
    let (more_events_out, more_events_in) = mpsc::channel(CHANNEL_CHUNKS);
    let (tiles_out, tiles_in) = mpsc::channel(CHANNEL_CHUNKS);
    let (batches_out, batch_rows_in) = mpsc::channel(CHANNEL_CHUNKS);
    let (checked_batches_out, batches_in) = mpsc::channel(CHANNEL_CHUNKS);
    let batch_checker = tokio::task::spawn_blocking(move || {
        check_batches(batch_rows_in, device_keys, checked_batches_out)
    });
    let (checkpoints_out, checkpoints_in) = mpsc::channel(CHANNEL_CHUNKS);
    let checker_progress = progress.clone();
    let checker = tokio::task::spawn_blocking(move || {
        let streams = Streams {
            entries: Entries {
                inputs: decoded_ins,
                next: 0,
            },
            events: recompute.then(|| EventRows::new([events_in, more_events_in])),
            tiles: Rows::new(tiles_in),
            batches: Rows::new(batches_in),
            checkpoints: Rows::new(checkpoints_in),
        };
        check(size, keys, options, streams, checker_progress.as_ref())
    });
    // The bundle rows' senders are dropped when the rows end, which ends the decoders.
    let bundles_read = async move {
        let outs = bundle_outs;
        stream_rows(
            &bundles_tx,
            BUNDLES,
            &[Column::Int8, Column::Int2, Column::Int2, Column::Bytes],
            BUNDLE_CHUNK,
            &outs,
        )
        .await
    };
    let (bundles_read, events_read, more_events_read, tiles_read, batches_read, checkpoints_read) = tokio::join!(
        bundles_read,
        stream_event_blocks(recompute, events_tx, 0, size, events_out),
        stream_event_blocks(recompute, more_events_tx, 1, size, more_events_out),
        stream_all(
            tiles_tx,
            TILES,
            &[Column::Int2, Column::Int8, Column::Int2, Column::Bytes],
            CHUNK,
            tiles_out
        ),
        // Small chunks: each batch costs the batch-checking thread a signature check.
        stream_all(
            batches_tx,
            BATCHES,
            &[
                Column::Bytes,
                Column::Bytes,
                Column::Bytes,
                Column::Bytes,
                Column::Bytes,
                Column::Int8
            ],
            BATCH_CHUNK,
            batches_out
        ),
        stream_all(
            checkpoints_tx,
            CHECKPOINTS,
            &[Column::Int8, Column::Bytes, Column::Bytes],
            CHUNK,
            checkpoints_out
        ),
    );
    for decoder in decoders {
        decoder.await.map_err(|_| AuditError::Thread)?;
    }
    batch_checker.await.map_err(|_| AuditError::Thread)?;
    let mut outcome = checker.await.map_err(|_| AuditError::Thread)?;
    // A stream fails only if reading failed; when the checker stopped early, the streams just stop.
    for read in [
        bundles_read.map(|_| ()),
        events_read,
        more_events_read,
        tiles_read,
        batches_read,
        checkpoints_read,
    ] {
        read?;
    }
    if outcome.report.problem.is_none() {
        outcome.report.problem = check_consistency(tiles_tx, &outcome.checkpoints).await?;
    }
    progress.advanced(outcome.report.entries);
    Ok(outcome.report)
}

/// Whether entry block `block` (leaves `block * EVENT_BLOCK` onwards; block 0 also takes any
/// leaf index below 0) is read in a log of `size` entries.
fn block_is_read(block: u64, size: u64) -> bool {
    block == 0 || block.saturating_mul(EVENT_BLOCK) < size
}

/// Streams the events of blocks `first`, `first + EVENT_STREAMS`, ... in leaf order, each block
/// followed by an empty chunk, until done or the receiver is gone; nothing unless `wanted`.
async fn stream_event_blocks(
    wanted: bool,
    client: &tokio_postgres::Transaction<'_>,
    first: u64,
    size: u64,
    out: mpsc::Sender<Vec<CopyRow>>,
) -> Result<(), AuditError> {
    if !wanted {
        return Ok(());
    }
    let outs = [out];
    let mut block = first;
    while block_is_read(block, size) {
        let end = block.saturating_add(1).saturating_mul(EVENT_BLOCK);
        // COPY takes no parameters; the bounds are integers formatted here.
        let sql = format!(
            "COPY ({}) TO STDOUT (FORMAT binary)",
            packs::in_range(&(block * EVENT_BLOCK).to_string(), &end.to_string())
        );
        if !stream_rows(client, &sql, EVENT_COLUMNS, CHUNK, &outs).await?
            || outs[0].send(Vec::new()).await.is_err()
        {
            return Ok(());
        }
        block += EVENT_STREAMS as u64;
    }
    Ok(())
}

/// Streams the rows of a `COPY ... TO STDOUT BINARY` in chunks of `chunk` rows, handed to `outs`
/// in turn; returns whether the receivers are still there. Rows are split into fields here (no
/// allocation per row).
async fn stream_rows(
    client: &tokio_postgres::Transaction<'_>,
    sql: &str,
    columns: &'static [Column],
    chunk_rows: usize,
    outs: &[mpsc::Sender<Vec<CopyRow>>],
) -> Result<bool, AuditError> {
    let stream = client.copy_out(sql).await?;
    pin_mut!(stream);
    let mut decoder = CopyDecoder::new(columns);
    let mut chunk = Vec::with_capacity(chunk_rows);
    let mut turn = outs.iter().cycle();
    while let Some(message) = stream.next().await {
        let Some(row) = decoder
            .decode(message?)
            .map_err(|error| AuditError::Copy(error.to_string()))?
        else {
            continue;
        };
        chunk.push(row);
        if chunk.len() == chunk_rows {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(chunk_rows));
            let Some(out) = turn.next() else {
                return Ok(false);
            };
            if out.send(full).await.is_err() {
                return Ok(false);
            }
        }
    }
    if !chunk.is_empty() {
        let Some(out) = turn.next() else {
            return Ok(false);
        };
        if out.send(chunk).await.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Streams all rows of one `COPY` query in chunks of `chunk_rows` (see [`stream_rows`]).
async fn stream_all(
    client: &tokio_postgres::Transaction<'_>,
    sql: &str,
    columns: &'static [Column],
    chunk_rows: usize,
    out: mpsc::Sender<Vec<CopyRow>>,
) -> Result<(), AuditError> {
    stream_rows(client, sql, columns, chunk_rows, &[out])
        .await
        .map(|_| ())
}

/// Rows of one stream, read on the checking thread.
struct Rows<T = CopyRow> {
    input: mpsc::Receiver<Vec<T>>,
    chunk: std::vec::IntoIter<T>,
    peeked: Option<T>,
}

impl<T> Rows<T> {
    fn new(input: mpsc::Receiver<Vec<T>>) -> Self {
        Self {
            input,
            chunk: Vec::new().into_iter(),
            peeked: None,
        }
    }

    fn next(&mut self) -> Option<T> {
        if let Some(row) = self.peeked.take() {
            return Some(row);
        }
        loop {
            if let Some(row) = self.chunk.next() {
                return Some(row);
            }
            self.chunk = self.input.blocking_recv()?.into_iter();
        }
    }

    fn peek(&mut self) -> Option<&T> {
        if self.peeked.is_none() {
            self.peeked = self.next();
        }
        self.peeked.as_ref()
    }
}

/// The event rows, taken from the streams block by block (back in leaf order), on the checking
/// thread.
struct EventRows {
    streams: [mpsc::Receiver<Vec<CopyRow>>; EVENT_STREAMS],
    block: usize,
    chunk: std::vec::IntoIter<CopyRow>,
    done: bool,
}

impl EventRows {
    fn new(streams: [mpsc::Receiver<Vec<CopyRow>>; EVENT_STREAMS]) -> Self {
        Self {
            streams,
            block: 0,
            chunk: Vec::new().into_iter(),
            done: false,
        }
    }

    fn next(&mut self) -> Option<CopyRow> {
        loop {
            if let Some(row) = self.chunk.next() {
                return Some(row);
            }
            if self.done {
                return None;
            }
            match self.streams[self.block % EVENT_STREAMS].blocking_recv() {
                None => {
                    self.done = true;
                    return None;
                }
                // The end of a block: the next one comes on the other stream.
                Some(chunk) if chunk.is_empty() => self.block += 1,
                Some(chunk) => self.chunk = chunk.into_iter(),
            }
        }
    }
}

/// A leaf record split out of its entry bundle row, decoded and hashed (by a decoding thread).
/// A row that does not hold its records ends in an entry whose record is the reason.
struct DecodedEntry {
    leaf_index: u64,
    record: Result<LeafRecord, String>,
    leaf_hash: Hash,
}

/// A decoding thread: splits the entry bundle rows of each chunk into leaf records, decodes and
/// hashes them, and passes them on in order, until the rows end or the checking thread is gone.
fn decode_bundles(mut input: mpsc::Receiver<Vec<CopyRow>>, out: mpsc::Sender<Vec<DecodedEntry>>) {
    while let Some(rows) = input.blocking_recv() {
        let mut decoded = Vec::with_capacity(rows.len() * BUNDLE as usize);
        for row in &rows {
            decode_bundle_row(row, &mut decoded);
        }
        if out.blocking_send(decoded).is_err() {
            return;
        }
    }
}

fn decode_bundle_row(row: &CopyRow, out: &mut Vec<DecodedEntry>) {
    let (bundle, first, width) = (row.int8(0), row.int2(1), row.int2(2));
    let malformed = |leaf_index: u64, reason: String| DecodedEntry {
        leaf_index,
        record: Err(format!(
            "its entry bundle row (bundle {bundle}, entries {first} to {width}) {reason}"
        )),
        leaf_hash: leaf_hash(&[]),
    };
    let (Ok(bundle_index), Ok(first_position), Ok(end)) = (
        u64::try_from(bundle),
        u16::try_from(first),
        u16::try_from(width),
    ) else {
        out.push(malformed(0, "has a negative position".to_owned()));
        return;
    };
    let start = bundle_index.saturating_mul(BUNDLE) + u64::from(first_position);
    // A row that does not hold its records is reported at its first entry.
    match row_records(first_position, end, row.bytes(3)) {
        Err(error) => out.push(malformed(start, error.to_string())),
        Ok(records) => out.extend((start..).zip(records).map(|(leaf_index, bytes)| {
            DecodedEntry {
                leaf_index,
                record: LeafRecord::decode(bytes)
                    .map_err(|error| format!("the leaf record is malformed: {error}")),
                leaf_hash: leaf_hash(bytes),
            }
        })),
    }
}

/// The decoded entries, taken from the decoding threads in turn (back in leaf order).
struct Entries {
    inputs: Vec<mpsc::Receiver<Vec<DecodedEntry>>>,
    next: usize,
}

impl Entries {
    fn next_chunk(&mut self) -> Option<Vec<DecodedEntry>> {
        let count = self.inputs.len();
        let chunk = self.inputs.get_mut(self.next)?.blocking_recv()?;
        self.next = (self.next + 1) % count;
        Some(chunk)
    }
}

struct Streams {
    entries: Entries,
    /// The events, when their hashes are recomputed.
    events: Option<EventRows>,
    tiles: Rows,
    batches: Rows<PreparedBatch>,
    checkpoints: Rows,
}

/// What the checking thread hands back.
struct Outcome {
    report: AuditReport,
    /// The verified checkpoints (size, root), in order, for the consistency proofs.
    checkpoints: Vec<(TreeSize, RootHash)>,
}

/// A problem and where in the log it lies (to keep the first).
#[derive(Debug, Clone)]
struct Found {
    position: u64,
    problem: AuditProblem,
}

fn tile_problem(position: u64, id: TileId, reason: String) -> Found {
    Found {
        position,
        problem: AuditProblem::Tile {
            level: id.level(),
            index: id.index(),
            width: id.width(),
            reason,
        },
    }
}

fn entry_problem(leaf_index: u64, reason: String) -> Found {
    Found {
        position: leaf_index,
        problem: AuditProblem::Entry { leaf_index, reason },
    }
}

/// A tile row that disagrees with the rebuilt tree, until a signed checkpoint says which is wrong.
struct Suspect {
    id: TileId,
    /// The first leaf under the first disagreeing hash.
    first_leaf: u64,
    reason: String,
}

/// A device batch row with the checks that need nothing but the row and the registry's keys done
/// (on the batch-checking thread): statement, hash, event hashes against the statement's root,
/// signature.
struct PreparedBatch {
    row: CopyRow,
    checked: Result<CheckedBatch, String>,
}

struct CheckedBatch {
    statement_hash: [u8; 32],
    device: String,
    size: u32,
    signature: SignatureVerdict,
}

enum SignatureVerdict {
    /// Verified under a key the registry holds for the device.
    Verified,
    /// The registry holds no key for the device: not checked.
    Unregistered,
}

/// The batch-checking thread: checks each device batch row as it arrives, until the rows end or
/// the checking thread is gone.
fn check_batches(
    mut input: mpsc::Receiver<Vec<CopyRow>>,
    keys: DeviceKeyring,
    out: mpsc::Sender<Vec<PreparedBatch>>,
) {
    while let Some(rows) = input.blocking_recv() {
        let prepared = rows
            .into_iter()
            .map(|row| PreparedBatch {
                checked: check_batch(&row, &keys),
                row,
            })
            .collect();
        if out.blocking_send(prepared).is_err() {
            return;
        }
    }
}

/// Checks a stored device batch on its own: its statement decodes and hashes to its key, its event
/// hashes are the batch the statement commits to, and its signature verifies under one of the keys
/// the registry holds for its device (any key the device has had), if it holds any.
fn check_batch(row: &CopyRow, keys: &DeviceKeyring) -> Result<CheckedBatch, String> {
    let stored_hash = row.bytes(0);
    let statement_bytes = row.bytes(1);
    let algorithm = String::from_utf8_lossy(row.bytes(2));
    let signature = row.bytes(3);
    let hashes = row.bytes(4);
    let statement = BatchStatement::decode(statement_bytes)
        .map_err(|error| format!("the statement is malformed: {error}"))?;
    let computed: [u8; 32] = Sha256::digest(statement_bytes).into();
    if computed.as_slice() != stored_hash || statement.hash().as_bytes() != &computed {
        return Err(format!("the statement hashes to {}", hex(&computed)));
    }
    let signature = match (&*algorithm, <[u8; 64]>::try_from(signature)) {
        ("ed25519", Ok(signature)) => DeviceSignature::Ed25519(signature),
        _ => {
            return Err(format!(
                "the signature is not an Ed25519 signature ({algorithm}, {} bytes)",
                signature.len()
            ));
        }
    };
    let events: Vec<EventHash> = hashes
        .chunks_exact(32)
        .filter_map(|chunk| <[u8; 32]>::try_from(chunk).ok().map(EventHash::from_bytes))
        .collect();
    let root_matches = u32::try_from(events.len()).is_ok_and(|n| n == statement.size())
        && hashes.len().is_multiple_of(32)
        && EventBatch::new(&events).is_ok_and(|tree| tree.root() == *statement.root());
    if !root_matches {
        return Err("its event hashes are not the batch the statement commits to".to_owned());
    }
    let verdict = match keys.keys_of(statement.device().as_str()) {
        None => SignatureVerdict::Unregistered,
        Some(keys)
            if keys
                .iter()
                .flatten()
                .any(|key| statement.verify(key, &signature).is_ok()) =>
        {
            SignatureVerdict::Verified
        }
        Some(keys) => {
            let unparsable = keys.iter().filter(|key| key.is_none()).count();
            return Err(format!(
                "its signature does not verify under any of the {} keys the registry holds for device {}{}",
                keys.len(),
                statement.device(),
                if unparsable > 0 {
                    format!(" ({unparsable} of them not Ed25519 public keys)")
                } else {
                    String::new()
                }
            ));
        }
    };
    Ok(CheckedBatch {
        statement_hash: computed,
        device: statement.device().as_str().to_owned(),
        size: statement.size(),
        signature: verdict,
    })
}

/// Hashes a SHA-256 output (a statement hash, checked before it becomes a key) by its first 8
/// bytes, which are uniform already: the per-entry lookup of its batch needs no SipHash.
#[derive(Default)]
struct PrefixHasher(u64);

impl std::hash::Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        match bytes.first_chunk::<8>() {
            Some(prefix) => self.0 ^= u64::from_le_bytes(*prefix),
            None => {
                for &byte in bytes {
                    self.0 = self.0.rotate_left(8) ^ u64::from(byte);
                }
            }
        }
    }
}

/// The `device_keys` argument of [`audit`] for a keyring in hand.
pub fn given_keys(
    keyring: DeviceKeyring,
) -> impl AsyncFnOnce(&Transaction<'_>) -> Result<DeviceKeyring, std::convert::Infallible> {
    async move |_: &Transaction<'_>| Ok(keyring)
}

/// A device batch whose leaves may still come.
struct ActiveBatch {
    device: String,
    hashes: Vec<u8>,
    end: u64,
}

/// The state of the checking thread.
struct Checker<'a> {
    size: u64,
    position: u64,
    /// The entry count at which the tiles are next brought up to date.
    boundary: u64,
    frontier: TileFrontier,
    segment: Vec<Hash>,
    streams: Streams,
    trusted: Option<TrustedLog>,
    verifiers: Option<NoteVerifiers>,
    active: HashMap<[u8; 32], ActiveBatch, BuildHasherDefault<PrefixHasher>>,
    /// The last tile row checked at each level (to require the final partial tiles).
    last_row: Vec<Option<TileId>>,
    suspect: Option<Suspect>,
    checkpoints: Vec<(TreeSize, RootHash)>,
    report: AuditReport,
    progress: &'a dyn AuditProgress,
}

/// Runs all checks on the rows as they arrive.
fn check(
    size: u64,
    keys: Vec<String>,
    options: AuditOptions,
    streams: Streams,
    progress: &dyn AuditProgress,
) -> Outcome {
    let mut checker = Checker {
        size,
        position: 0,
        boundary: 0,
        frontier: TileFrontier::new(),
        segment: Vec::with_capacity(CHUNK),
        streams,
        trusted: None,
        verifiers: None,
        active: HashMap::default(),
        last_row: Vec::new(),
        suspect: None,
        checkpoints: Vec::new(),
        report: AuditReport {
            entries: 0,
            tiles: 0,
            device_batches: 0,
            device_signatures_verified: 0,
            unregistered_device_batches: 0,
            checkpoints: 0,
            event_hashes_recomputed: options.recompute_event_hashes,
            problem: None,
        },
        progress,
    };
    let structural = match checker.load_keys(keys) {
        Err(found) => Some(found),
        Ok(()) => {
            let hashers = EventHashers::start(options);
            let found = checker.run(&hashers).err();
            let event_problem = hashers.finish();
            earliest(found, event_problem)
        }
    };
    checker.report.problem = structural.map(|found| found.problem);
    Outcome {
        report: checker.report,
        checkpoints: checker.checkpoints,
    }
}

fn earliest(a: Option<Found>, b: Option<Found>) -> Option<Found> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.position < a.position { b } else { a }),
        (a, b) => a.or(b),
    }
}

impl Checker<'_> {
    fn load_keys(&mut self, keys: Vec<String>) -> Result<(), Found> {
        let mut parsed = Vec::with_capacity(keys.len());
        for key in keys {
            match NoteVerifierKey::parse(&key) {
                Ok(verifier) => parsed.push(verifier),
                Err(error) => {
                    return Err(Found {
                        position: 0,
                        problem: AuditProblem::SigningKey {
                            key,
                            reason: format!("not a verifier key: {error}"),
                        },
                    });
                }
            }
        }
        let verifiers = NoteVerifiers::new(parsed).map_err(|error| Found {
            position: 0,
            problem: AuditProblem::SigningKey {
                key: format!("{}+{}", error.name, error.id),
                reason: error.to_string(),
            },
        })?;
        self.verifiers = Some(verifiers);
        Ok(())
    }

    fn run(&mut self, hashers: &EventHashers) -> Result<(), Found> {
        self.check_checkpoints_at(0)?;
        self.boundary = self.next_boundary();
        let mut events = Vec::with_capacity(CHUNK);
        while let Some(chunk) = self.streams.entries.next_chunk() {
            for entry in &chunk {
                self.entry(entry, &mut events)?;
                if events.len() == CHUNK {
                    hashers.submit(std::mem::replace(&mut events, Vec::with_capacity(CHUNK)));
                }
            }
            self.report.entries = self.position;
            self.progress.advanced(self.position);
            if let Some(found) = hashers.first_problem()
                && found.position < self.position
            {
                return Ok(());
            }
        }
        if !events.is_empty() {
            hashers.submit(events);
        }
        if self.position != self.size {
            return Err(entry_problem(
                self.position,
                format!(
                    "missing: the log has {} entries but the leaf record of entry {} is not stored",
                    self.size, self.position
                ),
            ));
        }
        if let Some(row) = self.streams.events.as_mut().and_then(EventRows::next) {
            return Err(entry_problem(
                self.position,
                format!(
                    "an event is stored at leaf index {} past the log's last entry",
                    row.int8(0)
                ),
            ));
        }
        self.flush()?;
        self.finish_tiles()?;
        self.finish_batches()?;
        self.finish_checkpoints()?;
        if let Some(suspect) = self.suspect.take() {
            return Err(tile_problem(
                suspect.first_leaf,
                suspect.id,
                format!(
                    "{} (no later checkpoint tells whether the tile or entry {} was changed)",
                    suspect.reason, suspect.first_leaf
                ),
            ));
        }
        Ok(())
    }

    /// Checks one entry (with its event, when events are read: the event row goes to `events`,
    /// to have its hash recomputed) and adds its leaf hash to the tree.
    fn entry(&mut self, entry: &DecodedEntry, events: &mut Vec<CopyRow>) -> Result<(), Found> {
        let expected = self.position;
        let leaf = entry.leaf_index;
        if leaf != expected {
            return Err(entry_problem(
                expected,
                if leaf < expected {
                    format!("stored twice: an entry bundle row holds entries from {leaf} again")
                } else {
                    format!("missing: the next stored leaf record is entry {leaf}")
                },
            ));
        }
        if leaf >= self.size {
            return Err(entry_problem(
                leaf,
                format!(
                    "its leaf record is stored but the log's events end at {}",
                    self.size
                ),
            ));
        }
        let record = entry
            .record
            .as_ref()
            .map_err(|reason| entry_problem(expected, reason.clone()))?;
        if let Some(rows) = self.streams.events.as_mut() {
            let row = rows.next().ok_or_else(|| {
                entry_problem(expected, "missing: its event is not stored".to_owned())
            })?;
            let stored_leaf = row.int8(0);
            if u64::try_from(stored_leaf).ok() != Some(expected) {
                return Err(entry_problem(
                    expected,
                    format!("missing: its event is not stored (the next is {stored_leaf})"),
                ));
            }
            self.check_event_hash(expected, record, row.bytes(1))?;
            events.push(row);
        }
        self.check_attestation(expected, record)?;
        self.segment.push(entry.leaf_hash);
        self.position += 1;
        if self.position >= self.boundary {
            self.flush()?;
            self.boundary = self.next_boundary();
        }
        Ok(())
    }

    /// Checks that an entry's stored event hash is the one its leaf record names.
    fn check_event_hash(
        &self,
        expected: u64,
        record: &LeafRecord,
        stored_hash: &[u8],
    ) -> Result<(), Found> {
        let stored_hash = <[u8; 32]>::try_from(stored_hash).map_err(|_| {
            entry_problem(
                expected,
                format!(
                    "the stored event hash is {} bytes, not 32",
                    stored_hash.len()
                ),
            )
        })?;
        if record.event_hash().as_bytes() != &stored_hash {
            return Err(entry_problem(
                expected,
                format!(
                    "the leaf record names event {} but the stored event hash is {}",
                    record.event_hash().to_hex(),
                    EventHash::from_bytes(stored_hash).to_hex()
                ),
            ));
        }
        Ok(())
    }

    /// Checks that a device-attested record names a stored batch that holds its event.
    fn check_attestation(&mut self, leaf: u64, record: &LeafRecord) -> Result<(), Found> {
        let starting = self.load_batches_up_to(leaf)?;
        let named = match record.attestation() {
            Attestation::Device { statement, .. } => Some(*statement.as_bytes()),
            Attestation::Unattested { .. } => None,
        };
        if let Some(starting) = starting
            && named != Some(starting)
        {
            return Err(Found {
                position: leaf,
                problem: AuditProblem::DeviceBatch {
                    statement_hash: hex(&starting),
                    reason: format!(
                        "its first leaf index is {leaf}, whose leaf record does not name it"
                    ),
                },
            });
        }
        let Attestation::Device {
            device,
            statement,
            index,
        } = record.attestation()
        else {
            return Ok(());
        };
        let Some(batch) = self.active.get(statement.as_bytes()) else {
            return Err(entry_problem(
                leaf,
                format!(
                    "its leaf record names device batch {} which is not stored",
                    hex(statement.as_bytes())
                ),
            ));
        };
        let at = usize::try_from(*index)
            .unwrap_or(usize::MAX)
            .saturating_mul(32);
        let in_batch = batch.hashes.get(at..at.saturating_add(32));
        if batch.device != device.as_str()
            || in_batch != Some(record.event_hash().as_bytes().as_slice())
        {
            return Err(entry_problem(
                leaf,
                format!(
                    "its leaf record says device {device}, batch {} index {index}, which the stored batch does not hold",
                    hex(statement.as_bytes())
                ),
            ));
        }
        Ok(())
    }

    /// Loads (and checks) the device batches whose first leaf is at or before `leaf`, and forgets
    /// those whose leaves are all behind. Returns the statement hash of the batch starting at
    /// `leaf`, if one does.
    fn load_batches_up_to(&mut self, leaf: u64) -> Result<Option<[u8; 32]>, Found> {
        let mut starting = None;
        loop {
            let due = self
                .streams
                .batches
                .peek()
                .is_some_and(|batch| u64::try_from(batch.row.int8(5)).unwrap_or(0) <= leaf);
            if !due {
                break;
            }
            let Some(batch) = self.streams.batches.next() else {
                break;
            };
            starting = Some(self.load_batch(batch, leaf)?);
        }
        if self.active.len() > 64 {
            self.active.retain(|_, batch| batch.end > leaf);
        }
        Ok(starting)
    }

    fn load_batch(&mut self, batch: PreparedBatch, leaf: u64) -> Result<[u8; 32], Found> {
        let row = &batch.row;
        let first = u64::try_from(row.int8(5)).unwrap_or(0);
        self.report.device_batches += 1;
        let problem = |reason: String| Found {
            position: first,
            problem: AuditProblem::DeviceBatch {
                statement_hash: hex(row.bytes(0)),
                reason,
            },
        };
        let checked = batch.checked.map_err(problem)?;
        match checked.signature {
            SignatureVerdict::Verified => self.report.device_signatures_verified += 1,
            SignatureVerdict::Unregistered => self.report.unregistered_device_batches += 1,
        }
        if first != leaf {
            // Batches are loaded when the entries reach their first leaf, which must name them.
            return Err(problem(format!(
                "its first leaf index {first} is not the first entry holding one of its events"
            )));
        }
        self.active.insert(
            checked.statement_hash,
            ActiveBatch {
                device: checked.device,
                hashes: row.bytes(4).to_vec(),
                end: first + u64::from(checked.size),
            },
        );
        Ok(checked.statement_hash)
    }

    /// The entry count at which the tiles must next be brought up to date: the next tile row or
    /// checkpoint, or at most [`MAX_SEGMENT`] leaves on.
    fn next_boundary(&mut self) -> u64 {
        let mut next = self.position + MAX_SEGMENT;
        if let Some(row) = self.streams.tiles.peek() {
            next = next.min(ready_at(row).unwrap_or(u64::MAX));
        }
        if let Some(row) = self.streams.checkpoints.peek() {
            next = next.min(u64::try_from(row.int8(0)).unwrap_or(u64::MAX));
        }
        next.min(self.size).max(self.position + 1)
    }

    /// Adds the pending leaf hashes to the tree and checks every tile row and checkpoint due at the
    /// current size.
    fn flush(&mut self) -> Result<(), Found> {
        let changed = self
            .frontier
            .append(&self.segment)
            .map_err(|error| entry_problem(self.position, error.to_string()))?;
        self.segment.clear();
        let here = self.position;
        let mut checked_full: Vec<TileId> = Vec::new();
        while self
            .streams
            .tiles
            .peek()
            .is_some_and(|row| ready_at(row).is_none_or(|at| at <= here))
        {
            let Some(row) = self.streams.tiles.next() else {
                break;
            };
            let id = tile_id(&row)?;
            self.report.tiles += 1;
            if ready_at(&row) != Some(here) {
                return Err(tile_problem(
                    here,
                    id,
                    "the row does not fit the tree (its hashes cannot all exist)".to_owned(),
                ));
            }
            let stored = row.bytes(3);
            let computed = changed
                .iter()
                .find(|tile| tile.id().level() == id.level() && tile.id().index() == id.index());
            self.compare_tile(id, stored, computed)?;
            if id.is_full() {
                checked_full.push(id);
            }
            let level = usize::from(id.level());
            if self.last_row.len() <= level {
                self.last_row.resize(level + 1, None);
            }
            self.last_row[level] = Some(id);
        }
        if let Some(missing) = changed
            .iter()
            .map(Tile::id)
            .find(|id| id.is_full() && !checked_full.contains(id))
        {
            return Err(tile_problem(
                missing.first_hash_index() << (8 * u32::from(missing.level())),
                missing,
                "missing: the tree has this full tile but no row stores it".to_owned(),
            ));
        }
        self.check_checkpoints_at(here)?;
        Ok(())
    }

    /// Compares a stored tile row with the rebuilt tile; a difference becomes the suspect (the
    /// first one only) until a checkpoint decides.
    fn compare_tile(
        &mut self,
        id: TileId,
        stored: &[u8],
        computed: Option<&Tile>,
    ) -> Result<(), Found> {
        let Some(computed) = computed else {
            return Err(tile_problem(
                self.position,
                id,
                "the rebuilt tree has no such tile at this size".to_owned(),
            ));
        };
        let width = usize::from(id.width());
        let expected = computed.hashes().get(..width).unwrap_or(computed.hashes());
        let differing = stored
            .chunks(32)
            .zip(expected)
            .position(|(stored, hash)| stored != hash.as_bytes().as_slice());
        let differing = match differing {
            Some(at) => Some(at),
            None if stored.len() != expected.len() * 32 => Some(0),
            None => None,
        };
        if let Some(at) = differing
            && self.suspect.is_none()
        {
            let hash_index = id.first_hash_index() + at as u64;
            let first_leaf = hash_index << (8 * u32::from(id.level()));
            self.suspect = Some(Suspect {
                id,
                first_leaf,
                reason: format!(
                    "stored hash {at} differs from the one rebuilt from the leaf records (leaves from {first_leaf})"
                ),
            });
        }
        Ok(())
    }

    /// Verifies every checkpoint whose tree size is `here`.
    fn check_checkpoints_at(&mut self, here: u64) -> Result<(), Found> {
        while self
            .streams
            .checkpoints
            .peek()
            .is_some_and(|row| u64::try_from(row.int8(0)).is_ok_and(|size| size <= here))
        {
            let Some(row) = self.streams.checkpoints.next() else {
                break;
            };
            let size = u64::try_from(row.int8(0)).unwrap_or(0);
            self.report.checkpoints += 1;
            let root = self.frontier.root();
            self.check_checkpoint(&row, size, here, &root)?;
        }
        Ok(())
    }

    fn check_checkpoint(
        &mut self,
        row: &CopyRow,
        size: u64,
        here: u64,
        recomputed: &RootHash,
    ) -> Result<(), Found> {
        let problem = |reason: String| Found {
            position: size,
            problem: AuditProblem::Checkpoint {
                tree_size: size,
                reason,
            },
        };
        if size != here {
            return Err(problem(
                "the tree never had this size when the entries were read".to_owned(),
            ));
        }
        let stored_root = row.bytes(1);
        let message = row
            .text(2)
            .map_err(|error| problem(format!("the note is not UTF-8: {error}")))?;
        let note = Note::parse(message)
            .map_err(|error| problem(format!("the note is malformed: {error}")))?;
        let checkpoint = Checkpoint::from_text(note.text())
            .map_err(|error| problem(format!("the note is not a checkpoint: {error}")))?;
        let trusted = match &self.trusted {
            Some(trusted) => trusted,
            None => {
                let origin: Origin = checkpoint.origin().clone();
                let verifiers = self.verifiers.clone().unwrap_or_default();
                self.trusted.insert(TrustedLog::new(origin, verifiers))
            }
        };
        let verified = trusted
            .open_checkpoint(message)
            .map_err(|error| problem(format!("the signed note does not verify: {error}")))?;
        let signed = verified.checkpoint();
        if signed.size().get() != size || signed.root().as_bytes().as_slice() != stored_root {
            return Err(problem(format!(
                "the stored size and root differ from the signed note's ({} leaves, root {})",
                signed.size(),
                signed.root()
            )));
        }
        if signed.root() != recomputed {
            if let Some(suspect) = self.suspect.take() {
                return Err(entry_problem(
                    suspect.first_leaf,
                    format!(
                        "its leaf record does not hash to what the log committed: tile {} and the signed root at {size} both disagree",
                        suspect.id.path()
                    ),
                ));
            }
            return Err(problem(format!(
                "the signed root differs from the root {recomputed} rebuilt from the entries: entries were changed after it was signed"
            )));
        }
        if let Some(suspect) = self.suspect.take() {
            return Err(tile_problem(
                suspect.first_leaf,
                suspect.id,
                format!(
                    "{}; the signed root at {size} matches the leaf records, so the tile was changed",
                    suspect.reason
                ),
            ));
        }
        let tree_size = TreeSize::new(size).map_err(|error| problem(error.to_string()))?;
        self.checkpoints.push((tree_size, *recomputed));
        Ok(())
    }

    /// The final partial tile of every level must be stored at its final width; no row may lie
    /// beyond the tree.
    fn finish_tiles(&mut self) -> Result<(), Found> {
        if let Some(row) = self.streams.tiles.next() {
            let id = tile_id(&row)?;
            return Err(tile_problem(
                self.size,
                id,
                format!("the tile lies beyond the tree of {} entries", self.size),
            ));
        }
        for tile in self.frontier.partial_tiles() {
            let id = tile.id();
            let stored = self
                .last_row
                .get(usize::from(id.level()))
                .copied()
                .flatten();
            if stored != Some(id) {
                return Err(tile_problem(
                    self.size,
                    id,
                    "missing: the tree ends with this partial tile but no row stores it".to_owned(),
                ));
            }
        }
        Ok(())
    }

    fn finish_batches(&mut self) -> Result<(), Found> {
        if let Some(PreparedBatch { row, .. }) = self.streams.batches.next() {
            let stored_hash = row.bytes(0);
            let first = row.int8(5);
            return Err(Found {
                position: self.size,
                problem: AuditProblem::DeviceBatch {
                    statement_hash: hex(stored_hash),
                    reason: format!("its first leaf index {first} is beyond the log"),
                },
            });
        }
        Ok(())
    }

    fn finish_checkpoints(&mut self) -> Result<(), Found> {
        if let Some(row) = self.streams.checkpoints.next() {
            let size = u64::try_from(row.int8(0)).unwrap_or(0);
            return Err(Found {
                position: self.size,
                problem: AuditProblem::Checkpoint {
                    tree_size: size,
                    reason: format!("it claims more entries than the {} stored", self.size),
                },
            });
        }
        Ok(())
    }
}

/// The tile id of a tile row, or a problem if the row is out of range.
fn tile_id(row: &CopyRow) -> Result<TileId, Found> {
    let level = row.int2(0);
    let index = row.int8(1);
    let width = row.int2(2);
    let level = u8::try_from(level).unwrap_or(u8::MAX);
    let index = u64::try_from(index).unwrap_or(u64::MAX);
    let width = u16::try_from(width).unwrap_or(0);
    TileId::new(level, index, width).map_err(|error| Found {
        position: 0,
        problem: AuditProblem::Tile {
            level,
            index,
            width,
            reason: format!("the row has an impossible position: {error}"),
        },
    })
}

/// The tree size at which a tile row's last hash came into being.
fn ready_at(row: &CopyRow) -> Option<u64> {
    let level = row.int2(0);
    let index = row.int8(1);
    let width = row.int2(2);
    let hashes = u64::try_from(index)
        .ok()?
        .checked_mul(u64::from(TILE_WIDTH))?
        .checked_add(u64::try_from(width).ok()?)?;
    let shift = 8 * u32::try_from(level).ok()?;
    if shift >= 64 {
        return None;
    }
    hashes.checked_mul(1u64 << shift)
}

use epcis::hex::encode_lower as hex;

/// Threads that recompute event hashes from the stored JSON, chunk by chunk.
struct EventHashers {
    work: Option<std::sync::mpsc::SyncSender<Vec<CopyRow>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    first: Arc<Mutex<Option<Found>>>,
}

impl EventHashers {
    fn start(options: AuditOptions) -> Self {
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
    fn submit(&self, chunk: Vec<CopyRow>) {
        match &self.work {
            Some(work) => {
                if let Err(failed) = work.send(chunk) {
                    record_first(&self.first, check_event_hashes(&failed.0));
                }
            }
            None => record_first(&self.first, check_event_hashes(&chunk)),
        }
    }

    fn first_problem(&self) -> Option<Found> {
        self.first.lock().ok().and_then(|first| first.clone())
    }

    /// Waits for the threads and returns the first event problem.
    fn finish(mut self) -> Option<Found> {
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

/// Recomputes the event hash of every row of a chunk; returns the first mismatch.
fn check_event_hashes(chunk: &[CopyRow]) -> Option<Found> {
    let context = HashContext::new();
    for row in chunk {
        let leaf = u64::try_from(row.int8(0)).unwrap_or(0);
        let stored = row.bytes(1);
        let json = match row.text(2) {
            Ok(json) => json,
            Err(error) => {
                return Some(entry_problem(
                    leaf,
                    format!("the stored event is not UTF-8: {error}"),
                ));
            }
        };
        let event = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
            Ok(event) => event,
            Err(error) => {
                return Some(entry_problem(
                    leaf,
                    format!("the stored event is not a JSON object: {error}"),
                ));
            }
        };
        match event_hash(&event, &context) {
            Ok(hash) if hash.as_bytes().as_slice() == stored => {}
            Ok(hash) => {
                return Some(entry_problem(
                    leaf,
                    format!(
                        "the stored event hashes to {} but its stored event hash is {}",
                        hash.to_hex(),
                        hex(stored)
                    ),
                ));
            }
            Err(error) => {
                return Some(entry_problem(
                    leaf,
                    format!("the stored event cannot be hashed: {error}"),
                ));
            }
        }
    }
    None
}

/// Checks an RFC 9162 consistency proof, read from the stored tiles, between each pair of
/// consecutive verified checkpoints (the tiles of many pairs in one query).
async fn check_consistency<C: GenericClient>(
    client: &C,
    checkpoints: &[(TreeSize, RootHash)],
) -> Result<Option<AuditProblem>, AuditError> {
    let pairs: Vec<&[(TreeSize, RootHash)]> = checkpoints.windows(2).collect();
    for group in pairs.chunks(PROOFS_PER_QUERY) {
        let mut plans = Vec::with_capacity(group.len());
        let mut widest: HashMap<(u8, u64), TileId> = HashMap::new();
        for pair in group {
            let [(old, _), (new, _)] = pair else { continue };
            let plan =
                ProofPlan::consistency(*old, *new).map_err(|e| AuditError::Proof(e.into()))?;
            let ids =
                tiles_for_nodes(plan.nodes(), *new).map_err(|e| AuditError::Proof(e.into()))?;
            for id in ids {
                let slot = widest.entry((id.level(), id.index())).or_insert(id);
                if id.width() > slot.width() {
                    *slot = id;
                }
            }
            plans.push(plan);
        }
        let ids: Vec<TileId> = widest.into_values().collect();
        let tiles = read_tiles(client, &ids)
            .await
            .map_err(|e| AuditError::Proof(e.into()))?;
        let set = TileSet::from(tiles);
        for (pair, plan) in group.iter().zip(&plans) {
            let [(old, old_root), (new, new_root)] = pair else {
                continue;
            };
            let verdict = set
                .read_hashes(plan.nodes())
                .map_err(|error| error.to_string())
                .and_then(|hashes| plan.assemble(&hashes).map_err(|error| error.to_string()))
                .and_then(|hashes| {
                    ConsistencyProof::new(*old, *new, hashes)
                        .verify(old_root, new_root)
                        .map_err(|error| error.to_string())
                });
            if let Err(reason) = verdict {
                return Ok(Some(AuditProblem::Checkpoint {
                    tree_size: old.get(),
                    reason: format!(
                        "no consistency proof to the next checkpoint at {new}: {reason}"
                    ),
                }));
            }
        }
    }
    Ok(None)
}

#[cfg(all(test, feature = "testing"))]
mod database_tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Sequencer;
    use crate::testing::{EventFactory, TestDatabase};

    #[tokio::test]
    async fn entries_read_in_alternating_blocks_are_checked_in_leaf_order() {
        let db = TestDatabase::create().await.unwrap();
        let store = Store::connect(db.url()).unwrap();
        let sequencer = Sequencer::start(&store);
        let mut device = EventFactory::new("dock-door-1", 1);
        for _ in 0..10 {
            sequencer.append(device.next_batch(7)).await.unwrap();
        }
        sequencer.shutdown().await;
        for recompute_event_hashes in [false, true] {
            let options = AuditOptions {
                recompute_event_hashes,
                hashing_threads: 1,
            };
            // No device keys are registered: the batches are counted, not checked.
            let keys = given_keys(DeviceKeyring::new());
            let report = audit(&store, options, keys, Arc::new(NoProgress))
                .await
                .unwrap();
            assert_eq!((report.entries, report.device_batches), (70, 10));
            assert!(report.is_clean(), "{:?}", report.problem);
        }

        // An entry in the middle of the fourth block (read on the second connection) goes missing.
        let client = db.connect().await.unwrap();
        client
            .batch_execute(&format!(
                "SET session_replication_role = replica; {}",
                crate::testing::delete_event_sql(53)
            ))
            .await
            .unwrap();
        let keys = given_keys(DeviceKeyring::new());
        let report = audit(&store, AuditOptions::default(), keys, Arc::new(NoProgress))
            .await
            .unwrap();
        match report.problem {
            Some(AuditProblem::Entry {
                leaf_index: 53,
                reason,
            }) => assert!(reason.contains("missing"), "{reason}"),
            other => panic!("expected entry 53 to be missing, got {other:?}"),
        }
    }
}
