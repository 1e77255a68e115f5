//! The audit's row streams: each `COPY ... TO STDOUT BINARY` query of the snapshot, read in chunks
//! of rows split into fields in place (no allocation per row, [`crate::copy`]) and handed over
//! bounded channels; and their receiving ends, read on the checking thread as iterators.

use futures_util::{StreamExt, pin_mut};
use tokio::sync::mpsc;
use tokio_postgres::Transaction;

use crate::copy::{Column, CopyDecoder, CopyRow};
use crate::packs;

use super::batches::PreparedBatch;
use super::checker::Source;
use super::decode::DecodedEntry;
use super::run::AuditError;

/// Rows per chunk handed from the database streams to the checking thread.
pub(super) const CHUNK: usize = 4096;
/// Entry bundle rows per chunk handed to a decoding thread (each holds up to 256 leaf records).
pub(super) const BUNDLE_CHUNK: usize = 4;
/// Device batch rows per chunk handed to the batch-checking thread (each costs a signature check).
pub(super) const BATCH_CHUNK: usize = 32;
/// Chunks buffered per stream.
pub(super) const CHANNEL_CHUNKS: usize = 8;

pub(super) const BUNDLES: &str =
    "COPY (SELECT bundle_index, first, width, entries FROM entry_bundles
    ORDER BY bundle_index, first) TO STDOUT (FORMAT binary)";
/// `(bundle_index, first, width, entries)`.
pub(super) const BUNDLE_COLUMNS: &[Column] =
    &[Column::Int8, Column::Int2, Column::Int2, Column::Bytes];
/// `(leaf_index, event_hash, event)`.
const EVENT_COLUMNS: &[Column] = &[Column::Int8, Column::Bytes, Column::Bytes];
/// Tile rows in the order the rebuilt tree reaches them: by the tree size at which the row's last
/// hash came into being, `(256 * tile_index + width) * 256^level`, lower levels first.
pub(super) const TILES: &str = "COPY (SELECT level, tile_index, width, hashes FROM tiles
    ORDER BY (tile_index * 256 + width)::numeric * power(256::numeric, level), level)
    TO STDOUT (FORMAT binary)";
/// `(level, tile_index, width, hashes)`.
pub(super) const TILE_COLUMNS: &[Column] =
    &[Column::Int2, Column::Int8, Column::Int2, Column::Bytes];
pub(super) const BATCHES: &str =
    "COPY (SELECT statement_hash, statement, signature_algorithm, signature,
    event_hashes, first_leaf_index FROM device_batches ORDER BY first_leaf_index, statement_hash)
    TO STDOUT (FORMAT binary)";
/// `(statement_hash, statement, signature_algorithm, signature, event_hashes, first_leaf_index)`.
pub(super) const BATCH_COLUMNS: &[Column] = &[
    Column::Bytes,
    Column::Bytes,
    Column::Bytes,
    Column::Bytes,
    Column::Bytes,
    Column::Int8,
];
pub(super) const CHECKPOINTS: &str = "COPY (SELECT tree_size, root_hash, note FROM checkpoints
    ORDER BY tree_size, index_size) TO STDOUT (FORMAT binary)";
/// `(tree_size, root_hash, note)`.
pub(super) const CHECKPOINT_COLUMNS: &[Column] = &[Column::Int8, Column::Bytes, Column::Bytes];

/// Entries are read in blocks of this many leaves, alternately on two connections, so that two
/// database processes produce them (small blocks in unit tests, to cross many).
const EVENT_BLOCK: u64 = if cfg!(test) { 16 } else { 1 << 16 };
/// The connections reading entries.
pub(super) const EVENT_STREAMS: usize = 2;

/// Whether entry block `block` (leaves `block * EVENT_BLOCK` onwards; block 0 also takes any
/// leaf index below 0) is read in a log of `size` entries.
fn block_is_read(block: u64, size: u64) -> bool {
    block == 0 || block.saturating_mul(EVENT_BLOCK) < size
}

/// Streams the events of blocks `first`, `first + EVENT_STREAMS`, ... in leaf order, each block
/// followed by an empty chunk, until done or the receiver is gone; nothing unless `wanted`.
pub(super) async fn stream_event_blocks(
    wanted: bool,
    client: &Transaction<'_>,
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
pub(super) async fn stream_rows(
    client: &Transaction<'_>,
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
pub(super) async fn stream_all(
    client: &Transaction<'_>,
    sql: &str,
    columns: &'static [Column],
    chunk_rows: usize,
    out: mpsc::Sender<Vec<CopyRow>>,
) -> Result<(), AuditError> {
    stream_rows(client, sql, columns, chunk_rows, &[out])
        .await
        .map(|_| ())
}

/// The rows of one stream, read on the checking thread (blocking until each chunk arrives).
pub(super) struct Rows<T = CopyRow> {
    input: mpsc::Receiver<Vec<T>>,
    chunk: std::vec::IntoIter<T>,
}

impl<T> Rows<T> {
    pub(super) fn new(input: mpsc::Receiver<Vec<T>>) -> Self {
        Self {
            input,
            chunk: Vec::new().into_iter(),
        }
    }
}

impl<T> Iterator for Rows<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            if let Some(row) = self.chunk.next() {
                return Some(row);
            }
            self.chunk = self.input.blocking_recv()?.into_iter();
        }
    }
}

/// The event rows, taken from the streams block by block (back in leaf order), on the checking
/// thread.
pub(super) struct EventRows {
    streams: [mpsc::Receiver<Vec<CopyRow>>; EVENT_STREAMS],
    block: usize,
    chunk: std::vec::IntoIter<CopyRow>,
    done: bool,
}

impl EventRows {
    pub(super) fn new(streams: [mpsc::Receiver<Vec<CopyRow>>; EVENT_STREAMS]) -> Self {
        Self {
            streams,
            block: 0,
            chunk: Vec::new().into_iter(),
            done: false,
        }
    }
}

impl Iterator for EventRows {
    type Item = CopyRow;

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

/// The decoded entries, taken from the decoding threads in turn (back in leaf order), a chunk at
/// a time.
pub(super) struct Entries {
    inputs: Vec<mpsc::Receiver<Vec<DecodedEntry>>>,
    next: usize,
}

impl Entries {
    pub(super) fn new(inputs: Vec<mpsc::Receiver<Vec<DecodedEntry>>>) -> Self {
        Self { inputs, next: 0 }
    }
}

impl Iterator for Entries {
    type Item = Vec<DecodedEntry>;

    fn next(&mut self) -> Option<Vec<DecodedEntry>> {
        let count = self.inputs.len();
        let chunk = self.inputs.get_mut(self.next)?.blocking_recv()?;
        self.next = (self.next + 1) % count;
        Some(chunk)
    }
}

/// The checker's rows as the database streams deliver them.
pub(super) struct FromDatabase;

impl Source for FromDatabase {
    type Entries = Entries;
    type Events = EventRows;
    type Tiles = Rows;
    type Batches = Rows<PreparedBatch>;
    type Checkpoints = Rows;
}
