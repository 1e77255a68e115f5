//! What the trace-api drivers (`trace_load`, `hostile_load`) share: a ledger of their own built
//! through the store (realistic ObjectEvents, probe items of 10 events spread over the log, and any
//! extra events a driver asks for), the release `trace-api` binary started on it as a reader, and
//! the bits of reporting.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use epcis::hash::{HashContext, event_hash};
use ledger::checkpoint::Origin;
use ledger::note::{KeyName, NoteSignerKey};
use ledger::{DeviceId, SiteId};
use ledger_store::testing::{EventFactory, admin_url, with_database};
use ledger_store::{Checkpointer, Indexer, Sequencer, Writer};
use serde_json::json;

/// Entries per appended batch.
pub const BATCH: usize = 1000;
/// The device whose batches fill the ledger.
pub const DEVICE: &str = "bench-reader-1";
/// Each probe item is named once in every tenth of the log: 10 events.
pub const PROBE_ROUNDS: u64 = 10;

/// The EPC of probe item `p`.
pub fn probe(p: u64) -> String {
    format!("urn:epc:id:sgtin:0614141.999999.{p}")
}

/// The lot (LGTIN class) of probe item `p`.
pub fn probe_lot(p: u64) -> String {
    format!("urn:epc:class:lgtin:0614141.999999.L{p}")
}

/// The company prefix of the trace journeys' items and containers: registered to nobody, so the
/// bench's site, the first to commission them, has authority over them.
const JOURNEY_PREFIX: &str = "4023456";

/// The lot of trace journey `j` (an LGTIN): four items commissioned in it.
pub fn journey_lot(j: u64) -> String {
    format!("urn:epc:class:lgtin:{JOURNEY_PREFIX}.099998.T{j}")
}

/// The product trace journey `j` made of two of its lot's items.
pub fn journey_product(j: u64) -> String {
    format!("urn:epc:id:sgtin:{JOURNEY_PREFIX}.099997.{j}")
}

/// The first case of trace journey `j`.
pub fn journey_case(j: u64) -> String {
    format!("urn:epc:id:sscc:{JOURNEY_PREFIX}.1{j:08}0")
}

/// The events of trace journey `j`, its first at `start_ms` (Unix milliseconds; recent, so that
/// custody authority counts them), a second apart: four items commissioned in the journey's lot
/// (ILMD `lotNumber`), packed two to a case, the two cases onto a pallet, the pallet into a
/// shipment, shipped to a warehouse, received there and unpacked, and two of the items turned
/// into a product. Twelve events; a trace from the lot goes through three levels of containers.
pub fn journey_events(j: u64, start_ms: u64) -> Vec<(String, epcis::EventHash)> {
    let time = |step: u64| ledger::UnixMillis::from_millis(start_ms + step * 1000).to_rfc3339();
    let items: Vec<String> = (0..4)
        .map(|k| format!("urn:epc:id:sgtin:{JOURNEY_PREFIX}.099998.{}", j * 4 + k))
        .collect();
    let case = |c: u64| format!("urn:epc:id:sscc:{JOURNEY_PREFIX}.1{j:08}{c}");
    let (pallet, shipment) = (case(5), case(9));
    let factory = format!("urn:epc:id:sgln:{JOURNEY_PREFIX}.00001.0");
    let warehouse = format!("urn:epc:id:sgln:{JOURNEY_PREFIX}.00002.0");
    let pack = |step: u64, action: &str, parent: &str, children: &[String]| {
        json!({"type": "AggregationEvent", "eventTime": time(step), "eventTimeZoneOffset": "+00:00",
            "parentID": parent, "childEPCs": children, "action": action,
            "bizStep": if action == "DELETE" { "unpacking" } else { "packing" },
            "readPoint": {"id": factory}})
    };
    let events = [
        json!({"type": "ObjectEvent", "eventTime": time(0), "eventTimeZoneOffset": "+00:00",
            "epcList": items, "action": "ADD", "bizStep": "commissioning",
            "bizLocation": {"id": factory}, "ilmd": {"cbvmda:lotNumber": format!("T{j}")}}),
        pack(1, "ADD", &case(0), &items[0..2]),
        pack(2, "ADD", &case(1), &items[2..4]),
        pack(3, "ADD", &pallet, &[case(0), case(1)]),
        pack(4, "ADD", &shipment, std::slice::from_ref(&pallet)),
        json!({"type": "ObjectEvent", "eventTime": time(5), "eventTimeZoneOffset": "+00:00",
            "epcList": [shipment], "action": "OBSERVE", "bizStep": "shipping",
            "readPoint": {"id": factory},
            "destinationList": [{"type": "location", "destination": warehouse}]}),
        json!({"type": "ObjectEvent", "eventTime": time(6), "eventTimeZoneOffset": "+00:00",
            "epcList": [shipment], "action": "OBSERVE", "bizStep": "receiving",
            "bizLocation": {"id": warehouse}}),
        pack(7, "DELETE", &shipment, &[]),
        pack(8, "DELETE", &pallet, &[]),
        pack(9, "DELETE", &case(0), &[]),
        pack(10, "DELETE", &case(1), &[]),
        json!({"type": "TransformationEvent", "eventTime": time(11), "eventTimeZoneOffset": "+00:00",
            "inputEPCList": [items[0], items[1]], "outputEPCList": [journey_product(j)],
            "bizStep": "commissioning", "bizLocation": {"id": warehouse}}),
    ];
    events.iter().map(hashed).collect()
}

/// An event as stored and its CBV hash.
pub fn hashed(event: &serde_json::Value) -> (String, epcis::EventHash) {
    let map = event.as_object().cloned().unwrap_or_default();
    #[allow(clippy::expect_used)] // the drivers' own, valid events
    let hash = event_hash(&map, &HashContext::new()).expect("a hashable event");
    (event.to_string(), hash)
}

/// The event naming probe `p` in round `round`, as stored, and its hash.
pub fn probe_event(p: u64, round: u64) -> (String, epcis::EventHash) {
    hashed(&json!({
        "type": "ObjectEvent",
        "eventTime": ledger::UnixMillis::from_millis(1_700_000_000_000 + round * 86_400_000 + p).to_rfc3339(),
        "eventTimeZoneOffset": "+00:00",
        "epcList": [probe(p)],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": format!("urn:epc:id:sgln:4012345.00001.{round}")},
        // Each probe item is of a lot of its own: the query interface's `MATCH_epcClass`.
        "quantityList": [{"epcClass": probe_lot(p), "quantity": 1}],
    }))
}

/// Connects as the database's superuser.
pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// What ledger to build.
#[derive(Debug)]
pub struct LedgerSpec {
    /// The database's name.
    pub name: String,
    /// Its entries, probe items included.
    pub entries: u64,
    /// Probe items, of [`PROBE_ROUNDS`] events each.
    pub probes: u64,
    /// Events appended after the probes' first round (part of `entries`).
    pub extra: Vec<(String, epcis::EventHash)>,
    /// Build it anew even if a complete one exists.
    pub rebuild: bool,
}

/// The ledger database: reused when complete, else (re)built; a reader login role
/// (`tagtrail_trace_bench`) made in it. Its URL.
#[allow(clippy::print_stderr)] // progress of a long build
pub async fn ledger(spec: &LedgerSpec) -> anyhow::Result<String> {
    let admin = admin_url();
    let name = &spec.name;
    let url = with_database(&admin, name)?;
    let server = connect(&admin).await?;
    let exists = server
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    let complete = if exists && !spec.rebuild {
        let store = Writer::connect(&url)?;
        let status = store.status().await?;
        status.entries.get() >= spec.entries
            && status.checkpoint == Some(status.entries)
            && status.indexed == status.entries.get()
    } else {
        false
    };
    if complete {
        eprintln!("reusing {name}");
    } else {
        build(spec, &server, &url).await?;
    }
    let mut client = connect(&url).await?;
    // A database reused from an earlier build gets the migrations landed since.
    ledger_store::migrate(&mut client).await?;
    client
        .batch_execute(
            "DO $$ BEGIN
                 CREATE ROLE tagtrail_trace_bench LOGIN PASSWORD 'tagtrail_trace_bench' IN ROLE tagtrail_reader;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;
             DO $$ BEGIN
                 CREATE ROLE tagtrail_access_bench LOGIN PASSWORD 'tagtrail_access_bench' IN ROLE tagtrail_access;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;",
        )
        .await?;
    Ok(url)
}

#[allow(clippy::print_stderr)] // progress of a long build
async fn build(
    spec: &LedgerSpec,
    server: &tokio_postgres::Client,
    url: &str,
) -> anyhow::Result<()> {
    let name = &spec.name;
    // Two statements: DROP and CREATE DATABASE cannot run in the implicit transaction of a batch.
    server
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    server
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let mut client = connect(url).await?;
    ledger_store::migrate(&mut client).await?;
    let mut factory = EventFactory::new(DEVICE, 1);
    let site = SiteId::parse("bench-site")?;
    registry::add_site(&client, &site, "bench", None).await?;
    registry::add_device(
        &mut client,
        &DeviceId::parse(DEVICE)?,
        &site,
        &factory.public_key(),
        &[],
    )
    .await?;

    let store = Writer::connect_with_pool_size(url, 8)?;
    let sequencer = Sequencer::start(&store);
    let signer = NoteSignerKey::from_seed(KeyName::parse("bench.example/log")?, &[5; 32]);
    let checkpointer = Checkpointer::new(
        &store,
        Origin::parse("bench.example/log")?,
        Arc::new(signer),
    );
    let indexer = Indexer::new(&store);
    let started = Instant::now();
    let tenth = (spec.entries / PROBE_ROUNDS).max(1);
    let mut appended = 0u64;
    let mut round = 0;
    let mut extra = Some(&spec.extra);
    while appended < spec.entries {
        // Each tenth of the log starts with one event of every probe item.
        if appended >= round * tenth && round < PROBE_ROUNDS {
            let events: Vec<_> = (0..spec.probes).map(|p| probe_event(p, round)).collect();
            for chunk in events.chunks(BATCH) {
                sequencer.append(factory.batch_from(chunk.to_vec())).await?;
                appended += chunk.len() as u64;
            }
            round += 1;
            continue;
        }
        if let Some(events) = extra.take() {
            for chunk in events.chunks(16) {
                sequencer.append(factory.batch_from(chunk.to_vec())).await?;
                appended += chunk.len() as u64;
            }
            continue;
        }
        let count = BATCH.min((spec.entries - appended) as usize);
        sequencer.append(factory.next_batch(count)).await?;
        appended += count as u64;
        if appended % 1_000_000 < BATCH as u64 {
            // Indexed first, so that the checkpoint commits to the index of all it covers (a
            // trace of a lot or a place reads the index the newest checkpoint commits to).
            indexer.catch_up().await?;
            checkpointer.sign_latest().await?;
            eprintln!(
                "{appended} entries in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    sequencer.shutdown().await;
    indexer.catch_up().await?;
    checkpointer.sign_latest().await?;
    client.batch_execute("VACUUM ANALYZE").await?;
    eprintln!(
        "built {name}: {appended} entries in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The `trace-api` binary next to the running driver, started on `url` as a reader on a free
/// port with the settings `env` (`TAGTRAIL_TRACE_*`): the process and its port.
pub fn start_trace_api(url: &str, env: &[(&str, &str)]) -> anyhow::Result<(Child, u16)> {
    start_trace_api_on(url, env, std::net::Ipv4Addr::LOCALHOST.into())
}

/// [`start_trace_api`] listening on `host` (`::` for IPv6 and, dual-stack, IPv4 clients too).
pub fn start_trace_api_on(
    url: &str,
    env: &[(&str, &str)],
    host: std::net::IpAddr,
) -> anyhow::Result<(Child, u16)> {
    let binary = std::env::current_exe()?
        .parent()
        .context("the driver has no directory")?
        .join("trace-api");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: cargo build --release -p trace-api",
        binary.display()
    );
    let listen = std::net::SocketAddr::new(host, 0);
    let port = TcpListener::bind(listen)?.local_addr()?.port();
    let (reader_url, access_url) = {
        let (_, rest) = url.split_once("://").context("a postgres:// URL")?;
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        (
            format!("postgres://tagtrail_trace_bench:tagtrail_trace_bench@{host}"),
            format!("postgres://tagtrail_access_bench:tagtrail_access_bench@{host}"),
        )
    };
    // The access log every query is recorded in, signed with a key of this run's.
    let access_key = std::env::temp_dir().join(format!("tagtrail-bench-access-{port}.key"));
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
    let signer = ledger::note::NoteSignerKey::from_seed(
        ledger::note::KeyName::parse("bench.test/access")?,
        &seed,
    );
    std::fs::write(&access_key, signer.to_private_text().as_str())?;
    let mut command = Command::new(binary);
    command
        .env("TAGTRAIL_TRACE_ACCESS_LOG_URL", &access_url)
        .env("TAGTRAIL_TRACE_ACCESS_LOG_SIGNING_KEY", &access_key)
        .env("TAGTRAIL_TRACE_ACCESS_LOG_ORIGIN", "bench.test/access")
        // Not its periodic audit: a full audit at start-up would share the CPUs with the load.
        .env("TAGTRAIL_TRACE_AUDIT_INTERVAL", "0s")
        .env("TAGTRAIL_TRACE_LOG_FILTER", "warn")
        .args([
            "--database-url",
            &reader_url,
            "--listen",
            &std::net::SocketAddr::new(host, port).to_string(),
        ]);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.stdout(Stdio::null()).spawn()?;
    Ok((child, port))
}

/// Waits (up to 10 s) until trace-api at `base` is ready; kills `child` if it never is.
pub fn wait_ready(child: &mut Child, base: &str) -> anyhow::Result<()> {
    let ready = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        ureq::get(&format!("{base}/health/ready")).call().is_ok()
    });
    if !ready {
        let _ = child.kill();
        anyhow::bail!("trace-api did not become ready");
    }
    Ok(())
}

/// The `p` quantile of sorted microseconds, in milliseconds.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// `text` as one path segment.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
