//! The edge-to-ledger path with every part real and separate: `firmware-bridge simulate` plays a
//! JRD-4035 module on a pseudo-terminal, `firmware-bridge run` reads it, smooths, signs, spools and
//! uploads to the `ingest` binary, which appends to a PostgreSQL ledger of the test's own.
//!
//! Mid-stream the bridge is killed with SIGKILL and started again on the same spool, then ingest is
//! killed with SIGKILL and started again on the same database. At the end:
//!
//! - every event the bridge acknowledged as spooled (its `event spooled` log line, written after
//!   the durable commit) is in the ledger: nothing acknowledged was lost;
//! - no event hash is in the log twice: retries after lost answers appended nothing again;
//! - every tag of the simulated population arrived in some event;
//! - each event's smoothing, sealed by the bridge for the brand (`[sealing]`), is in the log only
//!   sealed, and the brand's key opens it from the keys ingest kept beside the log;
//! - the uploader did meet ingest's absence (it logged failed uploads and retried);
//! - `tagtrail audit` verifies the whole log.
//!
//! The binaries are the workspace's own, found beside this test's executable (run the workspace's
//! tests, as `scripts/test` does, so that cargo builds them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ledger_store::testing::TestDatabase;
use support::services::{
    Ingest, Process, TempDir, binary, free_port, gateway_device, log_and_site, runtime, tagtrail,
    wait_for,
};

/// The login role ingest runs as here: a member of `tagtrail_ingest` only.
const SERVICE_ROLE: &str = "tagtrail_e2e_ingest";
/// The simulated tags: `urn:epc:id:sgtin:0614141.812345.{1..=TAGS}`.
const TAGS: u64 = 150;
const DEVICE: &str = "urn:tagtrail:device:e2e-dock-1";
const READ_POINT: &str = "urn:epc:id:sgln:0614141.00777.0";

/// `(event hash hex, event JSON)` of every ledger entry, in leaf order.
fn ledger_events(runtime: &tokio::runtime::Runtime, db: &TestDatabase) -> Vec<(String, String)> {
    runtime.block_on(async {
        let client = db.connect().await.unwrap();
        client
            .query(
                "SELECT encode(event_hash, 'hex'), event FROM events ORDER BY leaf_index",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    })
}

/// The hex digest of every `event spooled` log line (JSON logs; the hash as an `ni:` URI).
fn spooled_hashes(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["message"] == "event spooled")
        .map(|entry| {
            let uri = entry["event_hash"].as_str().unwrap().to_owned();
            let digest = uri
                .strip_prefix("ni:///sha-256;")
                .and_then(|rest| rest.split('?').next())
                .unwrap();
            digest.to_owned()
        })
        .collect()
}

/// The bridge's `firmware_bridge_tags_present`, read from its metrics endpoint (`None` while it
/// cannot be read).
fn tags_present(port: u16) -> Option<u64> {
    let mut response = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .ok()?;
    let text = response.body_mut().read_to_string().ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("firmware_bridge_tags_present "))
        .and_then(|value| value.trim().parse().ok())
}

/// A sealed value of the log opened with `recipient`'s key, from the keys ingest kept for it.
fn opened(
    runtime: &tokio::runtime::Runtime,
    db: &TestDatabase,
    value: &serde_json::Value,
    recipient: &ledger::sealed::RecipientSecret,
) -> serde_json::Value {
    use ledger::sealed::{Commitment, Envelope, FieldKey, SealedField};
    let field = SealedField::from_json(value)
        .unwrap_or_else(|| panic!("not sealed: {value}"))
        .unwrap();
    let commitment: Commitment = *field.commitment();
    let (wrapped, key, envelope): (Vec<u8>, Vec<u8>, Vec<u8>) = runtime.block_on(async {
        let client = db.connect().await.unwrap();
        let row = client
            .query_one(
                "SELECT f.wrapped, g.recipient, g.sealed_key
                 FROM sealed_field_keys f JOIN sealed_grants g USING (grant_id)
                 WHERE f.commitment = $1",
                &[&commitment.as_bytes().as_slice()],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    });
    assert_eq!(key, recipient.public_key().as_bytes());
    let field_key = FieldKey::from_parts(commitment, &wrapped).unwrap();
    let envelope = Envelope::from_parts(recipient.public_key(), &envelope).unwrap();
    let opening = ledger::sealed::open(&field, &field_key, &envelope, recipient).unwrap();
    serde_json::from_slice(opening.value()).unwrap()
}

fn spool_depth(path: &Path) -> u64 {
    firmware_bridge::spool::Spool::open(path, u64::MAX)
        .map(|spool| spool.depth())
        .unwrap_or(u64::MAX)
}

#[test]
fn simulated_reads_reach_the_ledger_exactly_once_through_kill_9_of_bridge_and_ingest() {
    let runtime = runtime();
    let db = runtime.block_on(TestDatabase::create()).unwrap();
    let service_url = runtime
        .block_on(db.login_role(SERVICE_ROLE, "tagtrail_ingest"))
        .unwrap();
    let dir = TempDir(std::env::temp_dir().join(format!("tagtrail-e2e-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = |name: &str| dir.0.join(name).to_str().unwrap().to_owned();
    let database = db.url().to_owned();

    // The registry, as an operator sets it up: a site, the gateway's key pair and the device.
    let checkpoint_key = path("checkpoint.key");
    log_and_site(
        &database,
        &checkpoint_key,
        "e2e.test/log",
        ("e2e-site", "E2E dock"),
        READ_POINT,
    );
    let device_key = path("device.key");
    gateway_device(&database, &device_key, DEVICE, "e2e-site");

    let ingest = Ingest {
        port: free_port(),
        database_url: service_url,
        checkpoint_key: PathBuf::from(&checkpoint_key),
    };
    let mut ingest_process = Some(ingest.start());

    // The site seals each event's smoothing (its reader set-up) for the brand: only the brand's
    // key opens it, from the keys ingest kept beside the log.
    let mut byte = 0u8;
    let brand = ledger::sealed::RecipientSecret::generate(&mut |bytes: &mut [u8]| {
        for b in bytes {
            byte = byte.wrapping_add(61);
            *b = byte;
        }
    });
    let link = path("ttyJRD");
    let bridge_metrics_port = free_port();
    let spool = dir.0.join("spool.sqlite");
    let config = path("bridge.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[device]
id = "{DEVICE}"
key_file = "{device_key}"

[smoothing]
cycle = "200ms"
absence = "1500ms"
max_epcs_per_event = 40

[[reader]]
id = "dock-door-1"
kind = "jrd"
port = "{link}"

[[read_point]]
reader = "dock-door-1"
read_point = "{READ_POINT}"
biz_location = "{READ_POINT}"
biz_step = "receiving"
disposition = "in_progress"
action = "OBSERVE"

[spool]
path = "{spool}"

[sealing]
fields = ["/tagtrail:smoothing"]
recipients = ["{brand_key}"]

[metrics]
listen = "127.0.0.1:{metrics_port}"

[upload]
url = "http://127.0.0.1:{port}/capture"
batch_size = 25
retry_min = "50ms"
retry_max = "500ms"
"#,
            spool = spool.display(),
            port = ingest.port,
            metrics_port = bridge_metrics_port,
            brand_key = brand.public_key().to_base64(),
        ),
    )
    .unwrap();
    let bridge = || {
        Process::spawn(
            Command::new(binary("firmware-bridge"))
                .args(["run", "--config", &config, "--log-format", "json"])
                .env("RUST_LOG", "info,firmware_bridge=debug"),
        )
    };

    // Passes of the whole population every 2 s, each tag read 3 times per pass; with the 1.5 s
    // absence, tags arrive, depart and arrive again: a steady stream of events.
    let simulator = Process::spawn(Command::new(binary("firmware-bridge")).args([
        "simulate",
        "--tags",
        &TAGS.to_string(),
        "--pass-ms",
        "2000",
        "--reads-per-tag",
        "3",
        "--link",
        &link,
    ]));
    wait_for("the simulated serial port", Duration::from_secs(30), || {
        Path::new(&link).exists()
    });
    let mut logs: Vec<String> = Vec::new();
    let ledger_size = || ledger_events(&runtime, &db).len();

    // 1. The bridge runs until events are in the ledger, then dies mid-stream.
    let first = bridge();
    wait_for(
        "the first events in the ledger",
        Duration::from_secs(60),
        || ledger_size() >= 5,
    );
    // Killed while events still flow.
    wait_for("more events in the ledger", Duration::from_secs(60), || {
        ledger_size() >= 10
    });
    logs.extend(first.kill());

    // 2. Started again on the same spool; then ingest dies mid-stream and comes back.
    let second = bridge();
    let before = ledger_size();
    wait_for(
        "uploads after the bridge restart",
        Duration::from_secs(60),
        || ledger_size() > before + 5,
    );
    drop(ingest_process.take().map(Process::kill));
    // The bridge keeps reading and spooling while its uploads fail.
    wait_for(
        "uploads to fail while ingest is down",
        Duration::from_secs(60),
        || second.logged("upload failed; retrying") >= 2,
    );
    ingest_process = Some(ingest.start());
    let before = ledger_size();
    wait_for(
        "uploads after the ingest restart",
        Duration::from_secs(60),
        || ledger_size() > before + 5,
    );

    // 3. The reader goes quiet: every tag departs, the spool drains, the bridge stops gracefully.
    drop(simulator.kill());
    wait_for("every tag to depart", Duration::from_secs(60), || {
        tags_present(bridge_metrics_port) == Some(0)
    });
    wait_for(
        "the last departures to drain",
        Duration::from_secs(60),
        || spool_depth(&spool) == 0,
    );
    logs.extend(second.terminate());
    assert_eq!(
        spool_depth(&spool),
        0,
        "events left in the spool after a graceful stop"
    );
    // Ingest stops the same way, flushing the ledger before it exits.
    let ingest_logs = ingest_process
        .take()
        .map(Process::terminate)
        .unwrap_or_default();
    assert!(
        ingest_logs
            .iter()
            .any(|line| line.contains("HTTP server stopped; flushing the ledger"))
            && ingest_logs
                .iter()
                .any(|line| line.contains("ingest stopped")),
        "ingest did not stop gracefully on SIGTERM: {ingest_logs:?}"
    );

    // Nothing acknowledged lost.
    let spooled = spooled_hashes(&logs);
    assert!(
        spooled.len() >= 15,
        "too few events spooled to mean anything: {}",
        spooled.len()
    );
    let events = ledger_events(&runtime, &db);
    let in_ledger: BTreeMap<&str, usize> =
        events.iter().fold(BTreeMap::new(), |mut seen, (hash, _)| {
            *seen.entry(hash.as_str()).or_default() += 1;
            seen
        });
    let lost: Vec<&String> = spooled
        .iter()
        .filter(|hash| !in_ledger.contains_key(hash.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} spooled event(s) missing from the ledger: {lost:?}",
        lost.len()
    );
    // Nothing duplicated.
    let duplicated: Vec<(&&str, &usize)> =
        in_ledger.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        duplicated.is_empty(),
        "event hashes appended more than once: {duplicated:?}"
    );
    // Every simulated tag arrived, and the ledger holds only what the bridge built.
    let mut arrived = BTreeSet::new();
    for (_, text) in &events {
        assert!(
            !text.contains("tagtrail:transition") && !text.contains("dock-door-1"),
            "the smoothing is in the log in clear: {text}"
        );
        let mut event: serde_json::Value = serde_json::from_str(text).unwrap();
        event["tagtrail:smoothing"] = opened(&runtime, &db, &event["tagtrail:smoothing"], &brand);
        assert_eq!(
            event["tagtrail:smoothing"]["tagtrail:reader"],
            "dock-door-1"
        );
        assert_eq!(event["readPoint"]["id"], READ_POINT, "{event}");
        for epc in event["epcList"].as_array().unwrap() {
            let serial: u64 = epc
                .as_str()
                .unwrap()
                .strip_prefix("urn:epc:id:sgtin:0614141.812345.")
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=TAGS).contains(&serial), "{epc} is not a simulated tag");
            if event["tagtrail:smoothing"]["tagtrail:transition"] == "arrival" {
                arrived.insert(serial);
            }
        }
    }
    let missing: Vec<u64> = (1..=TAGS)
        .filter(|serial| !arrived.contains(serial))
        .collect();
    assert!(missing.is_empty(), "tags that never arrived: {missing:?}");
    // The uploader met ingest's absence and retried through it.
    assert!(
        logs.iter()
            .any(|line| line.contains("upload failed; retrying")),
        "the bridge never saw ingest down; the restart was not exercised"
    );
    // The whole log verifies.
    // (`tagtrail` itself fails the test on a non-zero exit.)
    let audit = tagtrail(&["audit", "--database-url", &database]);
    let printed = String::from_utf8_lossy(&audit.stdout);
    assert!(
        printed.starts_with(&format!("ok: {} entries", events.len()))
            && printed.contains("event hashes and bytes recomputed")
            && !printed.contains("version 1 leaf records")
            // Every batch came from the registered gateway and verified under its key.
            && printed.contains("signatures verified against the registry, 0 by devices it holds no key for")
            && !printed.contains("(0 signatures verified"),
        "{printed}"
    );
}
