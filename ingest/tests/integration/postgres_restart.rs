//! A capture racing a restart of PostgreSQL gets an error, and its retry succeeds without
//! duplicating anything. The test runs a private PostgreSQL cluster
//! (`ledger_store::testing::PrivateCluster`) so that restarting it disturbs no other test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;
use service_kit::http::HttpService as _;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use capture_client::{CaptureClient, Credential};
use common::{KeyDir, SERVICE_ROLE, document, receipts, temp_dir, write_checkpoint_key};
use ingest::{Application, Config};
use ledger::SiteId;
use ledger_store::testing::{PrivateCluster, connect};
use registry::location::SiteLocation;
use secrecy::SecretString;

const HERE: &str = "urn:epc:id:sgln:0614141.00777.0";

/// A service of its own over a private PostgreSQL holding one site (`site-a`, at `HERE`).
struct Service {
    postgres: PrivateCluster,
    client: Arc<CaptureClient>,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _keys: KeyDir,
}

async fn start_service() -> Service {
    let postgres = tokio::task::spawn_blocking(PrivateCluster::start)
        .await
        .unwrap()
        .unwrap();
    let superuser = PrivateCluster::SUPERUSER;
    {
        let setup = connect(&postgres.url(superuser, "", "postgres"))
            .await
            .unwrap();
        setup.batch_execute("CREATE DATABASE ledger").await.unwrap();
    }
    let mut admin = connect(&postgres.url(superuser, "", "ledger"))
        .await
        .unwrap();
    ledger_store::migrate(&mut admin).await.unwrap();
    common::ensure_service_role(&admin).await;
    let site = SiteId::parse("site-a").unwrap();
    registry::add_site(&admin, &site, "", None).await.unwrap();
    registry::add_site_locations(&mut admin, &site, &[SiteLocation::parse(HERE).unwrap()])
        .await
        .unwrap();
    let token = registry::create_token(&admin, &site, "")
        .await
        .unwrap()
        .expose();
    drop(admin);

    let keys = temp_dir("restart-key");
    let mut config = Config::new(
        SecretString::from(postgres.url(SERVICE_ROLE, SERVICE_ROLE, "ledger")),
        write_checkpoint_key(&keys.0),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    config.http.workers = Some(2);
    config.database.connect_timeout = Duration::from_secs(2);
    let app = Application::build(config).await.unwrap();
    let client = Arc::new(CaptureClient::new(
        &format!("http://127.0.0.1:{}", app.port()),
        Credential::Token(token),
    ));
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    Service {
        postgres,
        client,
        handle,
        server,
        _keys: keys,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_racing_a_postgres_restart_fails_and_its_retry_stores_no_duplicate() {
    let Service {
        postgres,
        client,
        handle,
        server,
        _keys,
    } = start_service().await;

    // One sender capturing distinct 10-event documents back to back, recording what failed.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let successes = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (client, stop, failures, successes) = (
            client.clone(),
            stop.clone(),
            failures.clone(),
            successes.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut outcomes = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let serials: Vec<u64> = (n * 10..n * 10 + 10).collect();
                n += 1;
                let reply = client.capture(&document(&serials, HERE), None);
                let ok = matches!(&reply, Ok(reply) if reply.status == 202);
                if ok {
                    successes.fetch_add(1, Ordering::Relaxed);
                } else {
                    if let Ok(reply) = &reply {
                        assert_eq!(
                            reply.status, 503,
                            "a failed capture must be a retryable 503: {}",
                            reply.body
                        );
                    }
                    failures.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
                outcomes.push((serials, reply.ok().filter(|r| r.status == 202)));
            }
            outcomes
        })
    };

    let wait_for = |counter: Arc<AtomicUsize>, above: usize, what: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while counter.load(Ordering::Relaxed) <= above {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    wait_for(successes.clone(), 5, "captures before the restart").await;
    // Restart PostgreSQL (fast shutdown: connections are cut, in-flight transactions roll back),
    // staying down until a capture has failed.
    let postgres = Arc::new(postgres);
    {
        let postgres = postgres.clone();
        tokio::task::spawn_blocking(move || {
            postgres.pg_ctl(&["stop", "-m", "fast", "-w"]).unwrap()
        })
        .await
        .unwrap();
    }
    wait_for(
        failures.clone(),
        0,
        "a capture to fail while PostgreSQL is down",
    )
    .await;
    {
        let postgres = postgres.clone();
        tokio::task::spawn_blocking(move || postgres.pg_ctl(&["start", "-w", "-t", "60"]).unwrap())
            .await
            .unwrap();
    }
    let after = successes.load(Ordering::Relaxed);
    wait_for(successes.clone(), after + 5, "captures after the restart").await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = sender.await.unwrap();
    assert!(failures.load(Ordering::Relaxed) > 0);

    // Retry every failed capture until it is accepted.
    let mut leaf_of = std::collections::HashMap::new();
    for (serials, reply) in outcomes {
        let reply = match reply {
            Some(reply) => reply,
            None => {
                let client = client.clone();
                let body = document(&serials, HERE);
                tokio::task::spawn_blocking(move || {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    loop {
                        match client.capture(&body, None) {
                            Ok(reply) if reply.status == 202 => return reply,
                            other => {
                                assert!(
                                    Instant::now() < deadline,
                                    "the retry kept failing: {other:?}"
                                );
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                })
                .await
                .unwrap()
            }
        };
        for (_, hash, leaf, _) in receipts(&reply) {
            assert!(
                leaf_of.insert(hash, leaf).is_none(),
                "an event was sent twice"
            );
        }
    }
    handle.stop(true).await;
    server.await.unwrap().unwrap();

    // Every event once, at the leaf its receipt names.
    let admin = connect(&postgres.url(PrivateCluster::SUPERUSER, "", "ledger"))
        .await
        .unwrap();
    let row = admin
        .query_one(
            "SELECT count(*), count(DISTINCT event_hash) FROM events",
            &[],
        )
        .await
        .unwrap();
    let (rows, distinct): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(rows, distinct, "an event was appended twice");
    assert_eq!(rows as usize, leaf_of.len());
    for row in admin
        .query("SELECT leaf_index, event_hash FROM events", &[])
        .await
        .unwrap()
    {
        let leaf: i64 = row.get(0);
        let hash: Vec<u8> = row.get(1);
        let hash = epcis::EventHash::from_bytes(hash.try_into().unwrap()).to_ni_uri();
        assert_eq!(leaf_of[&hash], leaf as u64);
    }
}

/// After PostgreSQL restarts, the first capture is accepted: connections the restart killed are
/// found dead before use (by the pools and by the sequencer) and replaced, not used for one 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_capture_after_postgres_is_back_is_accepted() {
    let Service {
        postgres,
        client,
        handle,
        server,
        _keys,
    } = start_service().await;
    let capture = |serials: Vec<u64>| {
        let client = client.clone();
        tokio::task::spawn_blocking(move || {
            client.capture(&document(&serials, HERE), None).unwrap()
        })
    };
    // Several captures, so that the pools and the sequencer hold open connections.
    for n in 0..5u64 {
        let reply = capture((n * 10..n * 10 + 10).collect()).await.unwrap();
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    let postgres = Arc::new(postgres);
    {
        let postgres = postgres.clone();
        tokio::task::spawn_blocking(move || {
            postgres.pg_ctl(&["stop", "-m", "fast", "-w"]).unwrap();
            postgres.pg_ctl(&["start", "-w", "-t", "60"]).unwrap();
        })
        .await
        .unwrap();
    }
    for n in 5..8u64 {
        let reply = capture((n * 10..n * 10 + 10).collect()).await.unwrap();
        assert_eq!(
            reply.status, 202,
            "capture {n}, after the restart: {}",
            reply.body
        );
    }
    handle.stop(true).await;
    server.await.unwrap().unwrap();
}
