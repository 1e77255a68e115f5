//! trace-api on a PostgreSQL streaming replica: a primary and a hot standby replicating from it
//! (`ledger_store::testing::PrivateCluster`, both of this test's own), ingest writing to the
//! primary, one trace-api reading from the primary and one from the replica. A replica that has
//! caught up answers as the primary does; one that has not answers as of the newest checkpoint it
//! has replayed, never with a proof for a tree it cannot prove.

use std::time::{Duration, Instant};

use ledger::bundle::{ProofBundle, ProvenanceBundle, verify_bundle, verify_provenance};
use ledger_store::testing::{PrivateCluster, connect, create_login_role};
use serde_json::Value;
use tokio::task::block_in_place;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::common::{INGEST_ROLE, Pipeline, READER_ROLE, TraceApi, aggregation, object, segment};
use crate::proofs::passed_but_not_anchored;

const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";
const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
const DATABASE: &str = "ledger";

/// A primary with the pipeline on it, and a streaming replica with a trace-api of its own.
struct Replicated {
    /// Ingest and trace-api on the primary, which the pipeline keeps (as its `db`).
    pipeline: Pipeline<PrivateCluster>,
    replica: PrivateCluster,
    /// trace-api reading from the replica.
    on_replica: TraceApi,
    /// Superuser connections.
    primary_admin: Client,
    replica_admin: Client,
}

impl Replicated {
    /// Starts a primary (migrated, with the services' login roles), a replica of it, ingest and a
    /// trace-api on the primary, and a trace-api on the replica.
    async fn start() -> Self {
        let superuser = PrivateCluster::SUPERUSER;
        let primary = block_in_place(PrivateCluster::start).unwrap();
        connect(&primary.url(superuser, "", "postgres"))
            .await
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await
            .unwrap();
        let mut primary_admin = connect(&primary.url(superuser, "", DATABASE))
            .await
            .unwrap();
        ledger_store::migrate(&mut primary_admin).await.unwrap();
        create_login_role(&primary_admin, INGEST_ROLE, "tagtrail_ingest")
            .await
            .unwrap();
        create_login_role(&primary_admin, READER_ROLE, "tagtrail_reader")
            .await
            .unwrap();
        // Replicated from here on: the schema and the roles are the primary's.
        let replica = block_in_place(|| primary.start_replica()).unwrap();
        let replica_admin = connect(&replica.url(superuser, "", DATABASE))
            .await
            .unwrap();
        let ingest_url = primary.url(INGEST_ROLE, INGEST_ROLE, DATABASE);
        let reader_url = primary.url(READER_ROLE, READER_ROLE, DATABASE);
        let on_replica =
            TraceApi::start(replica.url(READER_ROLE, READER_ROLE, DATABASE), |_| {}).await;
        let pipeline =
            Pipeline::start_on(primary, &mut primary_admin, ingest_url, reader_url, |_| {}).await;
        Self {
            pipeline,
            replica,
            on_replica,
            primary_admin,
            replica_admin,
        }
    }

    /// The primary's WAL position now (after everything it has committed).
    async fn primary_lsn(&self) -> String {
        self.primary_admin
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Waits until the replica has replayed all the primary has written so far.
    async fn wait_for_replay(&self) {
        let lsn = self.primary_lsn().await;
        self.wait_on_replica(
            "pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
            &[&lsn],
            "the replica to replay the primary's WAL",
        )
        .await;
    }

    /// Waits until `condition` (an SQL expression with `params`) holds on the replica.
    async fn wait_on_replica(&self, condition: &str, params: &[&(dyn ToSql + Sync)], what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let query = format!("SELECT {condition}");
        loop {
            let holds: Option<bool> = self
                .replica_admin
                .query_one(&query, params)
                .await
                .unwrap()
                .get(0);
            if holds == Some(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the services; the clusters stop (and their directories go) as they are dropped.
    async fn stop(self) {
        self.on_replica.stop().await;
        self.pipeline.stop().await;
    }
}

/// `/items/{ITEM}/history`, as `api` answers it.
async fn history(api: &TraceApi) -> Value {
    let (status, body) = api.get(&format!("/items/{}/history", segment(ITEM))).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The event hashes of a history.
fn hashes_of(history: &Value) -> Vec<String> {
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["eventHash"].as_str().unwrap().to_owned())
        .collect()
}

/// `/items/{ITEM}/bundle`, as `api` answers it.
async fn provenance(api: &TraceApi) -> ProvenanceBundle {
    let (status, body) = api.get(&format!("/items/{}/bundle", segment(ITEM))).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// `/events/{hash}/bundle`, as `api` answers it, checked to verify (all but the anchor checks,
/// skipped: nothing is anchored yet) against the keys `pipeline` trusts.
async fn event_bundle<Db>(pipeline: &Pipeline<Db>, api: &TraceApi, hash: &str) -> ProofBundle {
    let (status, body) = api.get(&format!("/events/{}/bundle", segment(hash))).await;
    assert_eq!(status, 200, "{body}");
    let bundle: ProofBundle = serde_json::from_value(body).unwrap();
    passed_but_not_anchored(&verify_bundle(&bundle, &pipeline.trusted_keys()));
    bundle
}

/// `/log/checkpoint`, as `api` answers it.
async fn checkpoint(api: &TraceApi) -> String {
    let (status, text) = api.get_text("/log/checkpoint").await;
    assert_eq!(status, 200, "{text}");
    text
}

/// The tree a signed checkpoint is of: its origin, size and root hash lines. An idle log's
/// checkpoint may be signed again with a larger index line between two reads: the same tree.
fn tree(checkpoint: &str) -> Vec<&str> {
    checkpoint.lines().take(3).collect()
}

/// The tree size of a signed checkpoint (its second line).
fn size_of(checkpoint: &str) -> u64 {
    checkpoint.lines().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_caught_up_answers_as_the_primary_does_and_only_reads() {
    let replicated = Replicated::start().await;
    let Replicated {
        pipeline,
        on_replica,
        ..
    } = &replicated;
    let on_primary = pipeline.trace_api();
    pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            aggregation(1, "ADD", CASE, &[ITEM]),
            object(2, "OBSERVE", &[CASE], "shipping"),
            aggregation(3, "DELETE", CASE, &[ITEM]),
            object(4, "OBSERVE", &[CASE], "storing"),
        ])
        .await;
    // The newest checkpoint's index covering the whole tree: an idle log's checkpoint is not
    // signed again after that, so both trace-apis embed the same note in what they answer.
    pipeline.wait_for_index(5).await;
    replicated.wait_for_replay().await;

    // The same checkpoint, history and bundle as the primary's trace-api.
    assert_eq!(
        tree(&checkpoint(on_replica).await),
        tree(&checkpoint(on_primary).await)
    );
    let from_replica = history(on_replica).await;
    assert_eq!(from_replica, history(on_primary).await);
    assert_eq!(from_replica["total"], 4, "{from_replica}");
    let bundle = provenance(on_replica).await;
    assert_eq!(bundle, provenance(on_primary).await);
    let report = verify_provenance(&bundle, &pipeline.trusted_keys());
    // The history's four, then the case's observation after the item left it (no reason).
    assert_eq!(report.events().len(), 5);
    assert!(bundle.events[4].why.is_empty());
    for event in report.events() {
        passed_but_not_anchored(&event.report);
    }
    let (status, body) = on_replica.get("/health/ready").await;
    assert_eq!(status, 200, "{body}");

    // The reader's role reads on the replica; no one writes there, not even the superuser.
    let reader = connect(&replicated.replica.url(READER_ROLE, READER_ROLE, DATABASE))
        .await
        .unwrap();
    let row = reader
        .query_one(
            "SELECT pg_is_in_recovery(), (SELECT count(*) FROM checkpoints)",
            &[],
        )
        .await
        .unwrap();
    let (in_recovery, checkpoints): (bool, i64) = (row.get(0), row.get(1));
    assert!(in_recovery);
    assert!(checkpoints > 0);
    for client in [&reader, &replicated.replica_admin] {
        let error = client
            .batch_execute("INSERT INTO sites (site_id, name) VALUES ('x', 'x')")
            .await
            .unwrap_err();
        assert_eq!(
            error.code(),
            Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
            "{error}"
        );
    }
    replicated.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_behind_answers_from_its_older_checkpoint_until_it_catches_up() {
    let replicated = Replicated::start().await;
    let Replicated {
        pipeline,
        on_replica,
        replica_admin,
        ..
    } = &replicated;
    let on_primary = pipeline.trace_api();
    let old_hashes = pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            object(1, "OBSERVE", &[ITEM], "shipping"),
        ])
        .await;
    replicated.wait_for_replay().await;
    let old_checkpoint = checkpoint(on_replica).await;
    assert_eq!(tree(&old_checkpoint), tree(&checkpoint(on_primary).await));

    // Replay paused: the replica keeps receiving the primary's WAL but applies none of it.
    replica_admin
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    replicated
        .wait_on_replica(
            "pg_get_wal_replay_pause_state() = 'paused'",
            &[],
            "replay to pause",
        )
        .await;
    let new_hashes = pipeline
        .capture(vec![
            object(2, "OBSERVE", &[ITEM], "receiving"),
            object(3, "OBSERVE", &[ITEM], "storing"),
        ])
        .await;
    let new_checkpoint = checkpoint(on_primary).await;
    assert!(size_of(&new_checkpoint) > size_of(&old_checkpoint));
    let lsn = replicated.primary_lsn().await;
    replicated
        .wait_on_replica(
            "pg_last_wal_receive_lsn() >= $1::text::pg_lsn",
            &[&lsn],
            "the replica to receive the new events' WAL",
        )
        .await;

    // The replica answers as of the old checkpoint: without the new events, proved to it.
    assert_eq!(tree(&checkpoint(on_replica).await), tree(&old_checkpoint));
    let behind = history(on_replica).await;
    assert_eq!(
        behind["checkpoint"]["treeSize"].as_u64(),
        Some(size_of(&old_checkpoint)),
        "{behind}"
    );
    assert_eq!(hashes_of(&behind), old_hashes);
    assert_eq!(hashes_of(&history(on_primary).await).len(), 4);
    let bundle = provenance(on_replica).await;
    assert_eq!(tree(&bundle.checkpoint), tree(&old_checkpoint));
    assert_eq!(bundle.events.len(), old_hashes.len());
    let report = verify_provenance(&bundle, &pipeline.trusted_keys());
    for event in report.events() {
        passed_but_not_anchored(&event.report);
    }
    let single = event_bundle(pipeline, on_replica, &old_hashes[0]).await;
    assert_eq!(tree(&single.checkpoint), tree(&old_checkpoint));
    for hash in &new_hashes {
        let (status, body) = on_replica
            .get(&format!("/events/{}/bundle", segment(hash)))
            .await;
        assert_eq!(status, 404, "{body}");
    }

    // Replay resumed: once caught up, the replica answers with the new events.
    replica_admin
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    // Signed again no more (the index covers the tree), the note in both answers is the same.
    pipeline.wait_for_index(4).await;
    replicated.wait_for_replay().await;
    assert_eq!(tree(&checkpoint(on_replica).await), tree(&new_checkpoint));
    let caught_up = history(on_replica).await;
    assert_eq!(caught_up, history(on_primary).await);
    assert_eq!(
        hashes_of(&caught_up),
        [old_hashes, new_hashes.clone()].concat()
    );
    let single = event_bundle(pipeline, on_replica, &new_hashes[1]).await;
    assert_eq!(tree(&single.checkpoint), tree(&new_checkpoint));
    replicated.stop().await;
}
