//! The rows a group writes and the statements that write them: leaf records cut into entry
//! bundle rows, events `COPY`d or inserted into packs, tiles and device batches.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::{SinkExt, pin_mut};
use tokio_postgres::{Client, Statement};

use ledger::hash::Hash;
use ledger::tiles::Tile;

use crate::bundles::BundleRows;
use crate::entry::NewBatch;
use crate::log::{index_to_db, width_to_db};
use crate::packs::{self, PackEncoder};

use super::handle::AppendError;
use super::write::Planned;

/// The leaf records of the planned new entries, cut into entry bundle rows, and their leaf hashes,
/// in leaf order.
pub(super) fn encode_records(
    batches: &[&NewBatch],
    planned: &Planned,
) -> Result<(BundleRows, Vec<Hash>), AppendError> {
    let mut records = Vec::with_capacity(planned.new.len());
    let mut leaf_hashes = Vec::with_capacity(planned.new.len());
    for &(batch, entry) in &planned.new {
        let record = batches[batch].entries()[entry].record().encode();
        leaf_hashes.push(ledger::hash::leaf_hash(&record));
        records.push(record);
    }
    Ok((BundleRows::new(planned.first_leaf, &records)?, leaf_hashes))
}

/// The `event_hash` (the entry's key: a declaration's is its declaration key) and `event` columns
/// of the planned new entries, in leaf order.
pub(super) fn event_columns<'a>(
    batches: &[&'a NewBatch],
    planned: &Planned,
) -> (Vec<&'a [u8]>, Vec<&'a str>) {
    planned
        .new
        .iter()
        .map(|&(batch, entry)| {
            let entry = &batches[batch].entries()[entry];
            (entry.key().as_slice(), entry.event())
        })
        .unzip()
}

/// `COPY`s the entries, from leaf `first` on, into `event_packs` (two round trips, not
/// pipelinable). The packs are encoded here in PostgreSQL's binary COPY format straight into large
/// `CopyData` messages (no per-row future or dynamically typed parameter).
pub(super) async fn copy_entries(
    client: &Client,
    copy: &Statement,
    first: u64,
    hashes: &[&[u8]],
    events: &[&str],
) -> Result<(), AppendError> {
    let sink = client.copy_in::<_, Bytes>(copy).await?;
    pin_mut!(sink);
    let mut encoder = PackEncoder::new(COPY_CHUNK_BYTES + 64 * 1024);
    for pack in packs::split(events.iter().copied()) {
        let leaf = i64::try_from(first + pack.start as u64).unwrap_or(i64::MAX);
        encoder.pack(leaf, &hashes[pack.clone()], &events[pack]);
        if encoder.len() >= COPY_CHUNK_BYTES {
            sink.as_mut().send(encoder.take()).await?;
        }
    }
    sink.as_mut().send(encoder.finish()).await?;
    sink.finish().await?;
    Ok(())
}

/// The size at which encoded packs are sent as one `CopyData` message.
pub(super) const COPY_CHUNK_BYTES: usize = 512 * 1024;

/// Inserts the entries, from leaf `first` on, into `event_packs` with one statement. Sends it on the first
/// poll, so that it can be pipelined with the rest of the transaction.
pub(super) async fn insert_entries(
    client: &Client,
    insert: &Statement,
    first: i64,
    hashes: &[&[u8]],
    events: &[&str],
) -> Result<(), AppendError> {
    if hashes.is_empty() {
        return Ok(());
    }
    let mut all = Vec::with_capacity(32 * hashes.len());
    for hash in hashes {
        all.extend_from_slice(hash);
    }
    let (starts, ends): (Vec<i32>, Vec<i32>) = packs::split(events.iter().copied())
        .into_iter()
        .map(|pack| (position(pack.start), position(pack.end)))
        .unzip();
    client
        .execute(insert, &[&first, &all, &events, &starts, &ends])
        .await?;
    Ok(())
}

/// A position within a group (at most `max_group` entries).
pub(super) fn position(offset: usize) -> i32 {
    i32::try_from(offset).unwrap_or(i32::MAX)
}

/// Inserts the entry bundle rows holding the new leaf records. Sends its statement on the first
/// poll, so that it can be pipelined.
pub(super) async fn write_bundles(
    client: &Client,
    insert: &Statement,
    rows: &BundleRows,
) -> Result<(), AppendError> {
    if rows.is_empty() {
        return Ok(());
    }
    client
        .execute(
            insert,
            &[
                &rows.bundle_indexes,
                &rows.firsts,
                &rows.widths,
                &rows.entries,
            ],
        )
        .await?;
    Ok(())
}

/// Sends its statement on the first poll (no await before it), so that it can be pipelined.
pub(super) async fn write_tiles(
    client: &Client,
    insert: &Statement,
    tiles: &[Tile],
) -> Result<(), AppendError> {
    if tiles.is_empty() {
        return Ok(());
    }
    let levels: Vec<i16> = tiles.iter().map(|t| i16::from(t.id().level())).collect();
    let indexes: Vec<i64> = tiles.iter().map(|t| index_to_db(t.id().index())).collect();
    let widths: Vec<i16> = tiles.iter().map(|t| width_to_db(t.id().width())).collect();
    let hashes: Vec<Vec<u8>> = tiles.iter().map(Tile::to_bytes).collect();
    client
        .execute(insert, &[&levels, &indexes, &widths, &hashes])
        .await?;
    Ok(())
}

/// Inserts the signed batches that contributed at least one new entry (once per statement). Sends
/// its statement on the first poll, so that it can be pipelined.
pub(super) async fn write_batches(
    client: &Client,
    insert: &Statement,
    batches: &[&NewBatch],
    planned: &Planned,
) -> Result<(), AppendError> {
    let mut first_leaf: HashMap<usize, i64> = HashMap::new();
    for (offset, &(batch, _)) in planned.new.iter().enumerate() {
        first_leaf.entry(batch).or_insert_with(|| {
            i64::try_from(planned.first_leaf + offset as u64).unwrap_or(i64::MAX)
        });
    }
    let mut hashes = Vec::new();
    let mut statements = Vec::new();
    let mut algorithms = Vec::new();
    let mut signatures = Vec::new();
    let mut event_hashes = Vec::new();
    let mut firsts = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let (Some(signed), Some(first)) = (batch.signed(), first_leaf.get(&b)) else {
            continue;
        };
        hashes.push(signed.statement().hash().as_bytes().to_vec());
        statements.push(signed.statement().encode());
        algorithms.push(signed.signature().algorithm());
        signatures.push(signed.signature().to_bytes());
        let mut all = Vec::with_capacity(32 * signed.event_hashes().len());
        for hash in signed.event_hashes() {
            all.extend_from_slice(hash.as_bytes());
        }
        event_hashes.push(all);
        firsts.push(*first);
    }
    if hashes.is_empty() {
        return Ok(());
    }
    client
        .execute(
            insert,
            &[
                &hashes,
                &statements,
                &algorithms,
                &signatures,
                &event_hashes,
                &firsts,
            ],
        )
        .await?;
    Ok(())
}

/// Inserts the new error declarations. Sends its statement on the first poll, so that it can be
/// pipelined.
pub(super) async fn write_declarations(
    client: &Client,
    insert: &Statement,
    planned: &Planned,
) -> Result<(), AppendError> {
    if planned.declarations.is_empty() {
        return Ok(());
    }
    let leaves: Vec<i64> = planned
        .declarations
        .iter()
        .map(|d| i64::try_from(d.leaf).unwrap_or(i64::MAX))
        .collect();
    let declared: Vec<Option<i64>> = planned
        .declarations
        .iter()
        .map(|d| {
            d.declared
                .map(|leaf| i64::try_from(leaf).unwrap_or(i64::MAX))
        })
        .collect();
    let hashes: Vec<&[u8]> = planned
        .declarations
        .iter()
        .map(|d| d.event_hash.as_slice())
        .collect();
    client
        .execute(insert, &[&leaves, &declared, &hashes])
        .await?;
    Ok(())
}

/// Keeps the field keys of the new entries' sealed values, each bound to its entry's leaf, and
/// their batch keys' envelopes (`INSERT_FIELD_KEYS`); an entry that was in the log already had its
/// keys kept with it. Sends its statement on the first poll, so that it can be pipelined.
pub(super) async fn write_field_keys(
    client: &Client,
    insert: &Statement,
    batches: &[&NewBatch],
    planned: &Planned,
) -> Result<(), AppendError> {
    let mut commitments: Vec<&[u8]> = Vec::new();
    let mut grants: Vec<Vec<u8>> = Vec::new();
    let mut wrapped: Vec<&[u8]> = Vec::new();
    let mut leaves: Vec<i64> = Vec::new();
    let mut envelope_grants: Vec<Vec<u8>> = Vec::new();
    let mut recipients: Vec<Vec<u8>> = Vec::new();
    let mut sealed_keys: Vec<&[u8]> = Vec::new();
    for (batch, results) in batches.iter().zip(&planned.results) {
        for keys in batch.field_keys() {
            let grant = keys.set().grant_id().to_vec();
            let mut any = false;
            for (key, &position) in keys.set().field_keys().iter().zip(keys.entries()) {
                let Some(result) = results.get(position).filter(|result| !result.existing) else {
                    continue;
                };
                any = true;
                commitments.push(key.commitment().as_bytes());
                grants.push(grant.clone());
                wrapped.push(key.wrapped());
                leaves.push(i64::try_from(result.leaf_index.get()).unwrap_or(i64::MAX));
            }
            if any {
                for envelope in keys.set().envelopes() {
                    envelope_grants.push(grant.clone());
                    recipients.push(envelope.recipient().as_bytes().to_vec());
                    sealed_keys.push(envelope.sealed_key());
                }
            }
        }
    }
    if commitments.is_empty() {
        return Ok(());
    }
    client
        .execute(
            insert,
            &[
                &commitments,
                &grants,
                &wrapped,
                &leaves,
                &envelope_grants,
                &recipients,
                &sealed_keys,
            ],
        )
        .await?;
    Ok(())
}
