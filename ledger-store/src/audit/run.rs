//! [`audit`]: the orchestration. One snapshot exported from the first of six read-only
//! transactions and shared by the others; the streams read on them ([`super::streams`]); the
//! decoding threads ([`super::decode`]), the batch-checking thread ([`super::batches`]) and the
//! checking thread ([`super::checker`]) wired together by bounded channels; then the consistency
//! proofs between checkpoints ([`super::consistency`]).

use std::sync::Arc;

use deadpool_postgres::Object;
use ledger::batch::DeviceKeyring;
use tokio::sync::mpsc;
use tokio_postgres::{IsolationLevel, Transaction};

use crate::log::{Log, ProofError};
use crate::packs;

use super::batches::check_batches;
use super::checker::{Inputs, check};
use super::consistency::check_consistency;
use super::declarations::Declarations;
use super::decode::{DECODERS, decode_bundles};
use super::report::{AuditOptions, AuditProgress, AuditReport};
use super::streams::{
    BATCH_CHUNK, BATCH_COLUMNS, BATCHES, BUNDLE_CHUNK, BUNDLE_COLUMNS, BUNDLES, CHANNEL_CHUNKS,
    CHECKPOINT_COLUMNS, CHECKPOINTS, CHUNK, Entries, EventRows, FromDatabase, Rows, TILE_COLUMNS,
    TILES, stream_all, stream_event_blocks, stream_rows,
};

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
    store: &Log,
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
    let declarations = Declarations::new(
        bundles_tx
            .query(
                "SELECT declaration_leaf, declared_leaf, event_hash FROM error_declarations",
                &[],
            )
            .await?
            .iter()
            .map(|row| {
                let leaf = |value: i64| u64::try_from(value).unwrap_or(u64::MAX);
                let hash: &[u8] = row.get(2);
                (
                    leaf(row.get(0)),
                    row.get::<_, Option<i64>>(1).map(leaf),
                    <[u8; 32]>::try_from(hash).unwrap_or_default(),
                )
            }),
    );
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
        let inputs = Inputs::<FromDatabase>::new(
            Entries::new(decoded_ins),
            recompute.then(|| EventRows::new([events_in, more_events_in])),
            Rows::new(tiles_in),
            Rows::new(batches_in),
            Rows::new(checkpoints_in),
            declarations,
        );
        check(size, keys, options, inputs, checker_progress.as_ref())
    });
    // The bundle rows' senders are dropped when the rows end, which ends the decoders.
    let bundles_read = async move {
        let outs = bundle_outs;
        stream_rows(&bundles_tx, BUNDLES, BUNDLE_COLUMNS, BUNDLE_CHUNK, &outs).await
    };
    let (bundles_read, events_read, more_events_read, tiles_read, batches_read, checkpoints_read) = tokio::join!(
        bundles_read,
        stream_event_blocks(recompute, events_tx, 0, size, events_out),
        stream_event_blocks(recompute, more_events_tx, 1, size, more_events_out),
        stream_all(tiles_tx, TILES, TILE_COLUMNS, CHUNK, tiles_out),
        // Small chunks: each batch costs the batch-checking thread a signature check.
        stream_all(batches_tx, BATCHES, BATCH_COLUMNS, BATCH_CHUNK, batches_out),
        stream_all(
            checkpoints_tx,
            CHECKPOINTS,
            CHECKPOINT_COLUMNS,
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

/// The `device_keys` argument of [`audit`] for a keyring in hand.
pub fn given_keys(
    keyring: DeviceKeyring,
) -> impl AsyncFnOnce(&Transaction<'_>) -> Result<DeviceKeyring, std::convert::Infallible> {
    async move |_: &Transaction<'_>| Ok(keyring)
}

#[cfg(all(test, feature = "testing"))]
mod database_tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Sequencer;
    use crate::audit::problem::{AuditProblem, EntryReason};
    use crate::audit::report::NoProgress;
    use crate::testing::{EventFactory, TestDatabase};

    #[tokio::test]
    async fn entries_read_in_alternating_blocks_are_checked_in_leaf_order() {
        let db = TestDatabase::create().await.unwrap();
        let store = crate::Writer::connect(db.url()).unwrap();
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
        // Its leaf record is there; the next event stored is the one after it.
        assert_eq!(
            report.problem,
            Some(AuditProblem::Entry {
                leaf_index: 53,
                reason: EntryReason::EventMissing {
                    next_stored: Some(54)
                },
            })
        );
    }
}
