//! The trace-api load driver: a ledger of N entries (10,000,000 by default) built in a database of
//! its own, the release `trace-api` binary started on it as a member of `tagtrail_reader`, and
//! many concurrent clients asking for the history and the provenance bundle of items with 10
//! events each, spread over the whole log, and for hash tiles.
//!
//! The ledger: realistic ObjectEvents (5 EPCs each, from `ledger_store::testing::EventFactory`,
//! appended by the sequencer, indexed, checkpointed), and `--probes` items of the driver's own
//! (`urn:epc:id:sgtin:0614141.999999.<p>`), each named by one event in every tenth of the log. The
//! database (`tagtrail_trace_load_<N>`) is kept, so later runs reuse it (`--rebuild` starts over).
//!
//! It also asks about items nobody asked about before (the first EPC of a random event of the
//! bulk, named by that one event), so that the caches cannot answer: the cold path.
//!
//! For each route it reports requests/s with `--clients` clients as fast as they go, the clients'
//! latency percentiles, and the server's own time (the `Server-Timing` header trace-api adds);
//! then, paced at `--rate` requests/s (5,000 by default), the latency measured from each request's
//! scheduled time (no coordinated omission).
//!
//! Usage: `trace_load [--entries N] [--probes P] [--clients C] [--seconds S] [--rate R] [--rebuild]
//! [--only history|provenance|hash|cold]`
//! (the `trace-api` binary must be built next to this one: `cargo build --release -p trace-api
//! -p tagtrail-bench --bin trace_load`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use epcis::hash::{HashContext, event_hash};
use ledger::checkpoint::Origin;
use ledger::note::{KeyName, NoteSignerKey};
use ledger::{DeviceId, SiteId};
use ledger_store::testing::{EventFactory, admin_url, with_database};
use ledger_store::{Checkpointer, Indexer, Sequencer, Store};
use serde_json::json;

/// Entries per appended batch.
const BATCH: usize = 1000;
/// The device whose batches fill the ledger.
const DEVICE: &str = "bench-reader-1";
/// Each probe item is named once in every tenth of the log: 10 events.
const PROBE_ROUNDS: u64 = 10;

struct Options {
    entries: u64,
    probes: u64,
    clients: usize,
    seconds: u64,
    rate: f64,
    rebuild: bool,
    /// Only the route whose name starts with this.
    only: Option<String>,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        entries: 10_000_000,
        probes: 1000,
        clients: 16,
        seconds: 10,
        rate: 5000.0,
        rebuild: false,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    let number = |args: &mut std::iter::Skip<std::env::Args>, name: &str| -> anyhow::Result<u64> {
        Ok(args
            .next()
            .with_context(|| format!("{name} needs a number"))?
            .parse()?)
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--entries" => options.entries = number(&mut args, "--entries")?,
            "--probes" => options.probes = number(&mut args, "--probes")?.max(1),
            "--clients" => options.clients = number(&mut args, "--clients")?.max(1) as usize,
            "--seconds" => options.seconds = number(&mut args, "--seconds")?.max(1),
            "--rate" => options.rate = number(&mut args, "--rate")?.max(1) as f64,
            "--rebuild" => options.rebuild = true,
            "--only" => options.only = Some(args.next().context("--only needs a route name")?),
            other => anyhow::bail!(
                "unknown argument {other:?}; usage: trace_load [--entries N] [--probes P] [--clients C] [--seconds S] [--rate R] [--rebuild] [--only history|provenance|hash|cold]"
            ),
        }
    }
    Ok(options)
}

/// The EPC of probe item `p`.
fn probe(p: u64) -> String {
    format!("urn:epc:id:sgtin:0614141.999999.{p}")
}

/// The event naming probe `p` in round `round`, as stored, and its hash.
fn probe_event(p: u64, round: u64) -> (String, epcis::EventHash) {
    let event = json!({
        "type": "ObjectEvent",
        "eventTime": ledger::UnixMillis::from_millis(1_700_000_000_000 + round * 86_400_000 + p).to_rfc3339(),
        "eventTimeZoneOffset": "+00:00",
        "epcList": [probe(p)],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": format!("urn:epc:id:sgln:4012345.00001.{round}")},
    });
    let map = event.as_object().cloned().unwrap_or_default();
    #[allow(clippy::expect_used)] // a fixed, valid ObjectEvent
    let hash = event_hash(&map, &HashContext::new()).expect("a hashable event");
    (event.to_string(), hash)
}

/// Connects as the database's superuser.
async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The ledger database of `entries` entries: reused when complete, else (re)built.
#[allow(clippy::print_stderr)] // progress of a long build
async fn ledger(options: &Options) -> anyhow::Result<String> {
    let admin = admin_url();
    let name = format!("tagtrail_trace_load_{}", options.entries);
    let url = with_database(&admin, &name)?;
    let server = connect(&admin).await?;
    let exists = server
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if exists && !options.rebuild {
        let store = Store::connect(&url)?;
        let status = store.status().await?;
        let complete = status.entries.get() >= options.entries
            && status.checkpoint == Some(status.entries)
            && status.indexed == status.entries.get();
        if complete {
            eprintln!("reusing {name}: {} entries", status.entries);
            return Ok(url);
        }
    }
    // Two statements: DROP and CREATE DATABASE cannot run in the implicit transaction of a batch.
    server
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    server
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let mut client = connect(&url).await?;
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

    let store = Store::connect_with_pool_size(&url, 8)?;
    let sequencer = Sequencer::start(&store);
    let signer = NoteSignerKey::from_seed(KeyName::parse("bench.example/log")?, &[5; 32]);
    let checkpointer = Checkpointer::new(
        &store,
        Origin::parse("bench.example/log")?,
        Arc::new(signer),
    );
    let indexer = Indexer::new(&store);
    let started = Instant::now();
    let tenth = (options.entries / PROBE_ROUNDS).max(1);
    let mut appended = 0u64;
    let mut round = 0;
    while appended < options.entries {
        // Each tenth of the log starts with one event of every probe item.
        if appended >= round * tenth && round < PROBE_ROUNDS {
            let events: Vec<_> = (0..options.probes).map(|p| probe_event(p, round)).collect();
            for chunk in events.chunks(BATCH) {
                sequencer.append(factory.batch_from(chunk.to_vec())).await?;
                appended += chunk.len() as u64;
            }
            round += 1;
            continue;
        }
        let count = BATCH.min((options.entries - appended) as usize);
        sequencer.append(factory.next_batch(count)).await?;
        appended += count as u64;
        if appended % 1_000_000 < BATCH as u64 {
            checkpointer.sign_latest().await?;
            indexer.catch_up().await?;
            eprintln!(
                "{appended} entries in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    sequencer.shutdown().await;
    checkpointer.sign_latest().await?;
    indexer.catch_up().await?;
    client.batch_execute("VACUUM ANALYZE").await?;
    eprintln!(
        "built {name}: {appended} entries in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(url)
}

/// The `trace-api` binary next to this one, started on `url` as a reader on a free port.
fn start_service(url: &str) -> anyhow::Result<(Child, String)> {
    let binary = std::env::current_exe()?
        .parent()
        .context("the driver has no directory")?
        .join("trace-api");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: cargo build --release -p trace-api",
        binary.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let reader_url = {
        let (_, rest) = url.split_once("://").context("a postgres:// URL")?;
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        format!("postgres://tagtrail_trace_bench:tagtrail_trace_bench@{host}")
    };
    let child = Command::new(binary)
        // Not its periodic audit: a full audit at start-up would share the CPUs with the load.
        .env("TAGTRAIL_TRACE_AUDIT_INTERVAL", "0s")
        .args([
            "--database-url",
            &reader_url,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        // One client address makes every request: no per-address limit here.
        .env("TAGTRAIL_TRACE_LIMITS_REQUESTS_PER_SECOND", "100000000")
        .env("TAGTRAIL_TRACE_LIMITS_BURST", "100000000")
        .env("TAGTRAIL_TRACE_LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// One answered request: client latency and server time, in microseconds.
#[derive(Clone, Copy)]
struct Sample {
    client: u64,
    server: u64,
}

/// A GET, checked for 200; its server time from `Server-Timing: app;dur=<ms>`.
fn get(agent: &ureq::Agent, url: &str) -> anyhow::Result<u64> {
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(response.status() == 200, "GET {url}: {}", response.status());
    let server = response
        .headers()
        .get("server-timing")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split("dur=").nth(1))
        .and_then(|ms| ms.parse::<f64>().ok())
        .map_or(0, |ms| (ms * 1000.0) as u64);
    let _ = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()?;
    Ok(server)
}

/// Runs `clients` threads for `seconds`, each asking for `path(n)` with n counting up; or, with
/// `rate`, all of them together at that many requests per second, latency from the schedule.
fn load(
    base: &str,
    clients: usize,
    seconds: u64,
    rate: Option<f64>,
    path: Arc<dyn Fn(u64) -> String + Send + Sync>,
) -> anyhow::Result<(Vec<Sample>, Duration)> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let next = next.clone();
            let path = path.clone();
            let base = base.to_owned();
            std::thread::spawn(move || -> anyhow::Result<Vec<Sample>> {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut samples = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let scheduled = match rate {
                        Some(rate) => start + Duration::from_secs_f64(n as f64 / rate),
                        None => Instant::now(),
                    };
                    // Paced: a server that cannot keep up is not given time to drain a backlog.
                    if scheduled >= end || Instant::now() >= end {
                        return Ok(samples);
                    }
                    if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let server = get(&agent, &format!("{base}{}", path(n)))?;
                    samples.push(Sample {
                        client: scheduled.elapsed().as_micros() as u64,
                        server,
                    });
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    for thread in threads {
        samples.extend(
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??,
        );
    }
    Ok((samples, start.elapsed()))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// One row of the report.
#[allow(clippy::print_stdout)] // the driver's report
fn report(name: &str, clients: &str, samples: &[Sample], took: Duration) {
    let mut client: Vec<u64> = samples.iter().map(|s| s.client).collect();
    let mut server: Vec<u64> = samples.iter().map(|s| s.server).collect();
    client.sort_unstable();
    server.sort_unstable();
    println!(
        "| {name} | {clients} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        samples.len(),
        samples.len() as f64 / took.as_secs_f64(),
        percentile(&server, 0.5),
        percentile(&server, 0.99),
        percentile(&client, 0.5),
        percentile(&client, 0.99),
        percentile(&client, 1.0),
    );
}

fn percent_encode(text: &str) -> String {
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

#[allow(clippy::print_stdout)] // the driver's report
fn main() -> anyhow::Result<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let url = runtime.block_on(async {
        let url = ledger(&options).await?;
        let client = connect(&url).await?;
        client
            .batch_execute(
                "DO $$ BEGIN
                     CREATE ROLE tagtrail_trace_bench LOGIN PASSWORD 'tagtrail_trace_bench' IN ROLE tagtrail_reader;
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                 END $$;",
            )
            .await?;
        anyhow::Ok(url)
    })?;
    let (mut child, base) = start_service(&url)?;
    let ready = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        ureq::get(&format!("{base}/health/ready")).call().is_ok()
    });
    if !ready {
        let _ = child.kill();
        anyhow::bail!("trace-api did not become ready");
    }
    let probes = options.probes;
    let history: Arc<dyn Fn(u64) -> String + Send + Sync> =
        Arc::new(move |n| format!("/items/{}/history", percent_encode(&probe(n % probes))));
    let bundle: Arc<dyn Fn(u64) -> String + Send + Sync> =
        Arc::new(move |n| format!("/items/{}/bundle", percent_encode(&probe(n % probes))));
    // Items nobody asked about before: the first EPC of a pseudo-random bulk event (each names one
    // event), a different one for every request of the run.
    let bulk = options.entries.saturating_sub(probes * PROBE_ROUNDS).max(1);
    let factory = Arc::new(EventFactory::new(DEVICE, 1));
    // Its own counter, not the request number: no phase asks about another phase's items.
    let asked = Arc::new(AtomicU64::new(0));
    let cold = {
        let factory = factory.clone();
        move |_: u64| {
            let n = asked.fetch_add(1, Ordering::Relaxed);
            let event = factory.event(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % bulk);
            let epc = event["epcList"][0].as_str().unwrap_or_default().to_owned();
            percent_encode(&epc)
        }
    };
    let cold_history: Arc<dyn Fn(u64) -> String + Send + Sync> = {
        let cold = cold.clone();
        Arc::new(move |n| format!("/items/{}/history", cold(n)))
    };
    let cold_bundle: Arc<dyn Fn(u64) -> String + Send + Sync> =
        Arc::new(move |n| format!("/items/{}/bundle", cold(n)));
    let full_tiles = (options.entries / 256).max(1);
    let tile: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(move |n| {
        let index = (n.wrapping_mul(2_654_435_761)) % full_tiles;
        let digits = format!(
            "{index:0width$}",
            width = index.to_string().len().div_ceil(3) * 3
        );
        let groups: Vec<&str> = digits
            .as_bytes()
            .chunks(3)
            .filter_map(|g| std::str::from_utf8(g).ok())
            .collect();
        let (last, rest) = groups.split_last().unwrap_or((&"000", &[]));
        let prefix: String = rest.iter().map(|g| format!("x{g}/")).collect();
        format!("/log/tile/0/{prefix}{last}")
    });
    // Every answer checked once (a probe's history has its 10 events), and the caches warmed.
    let agent = ureq::agent();
    let mut text = String::new();
    ureq::get(&format!("{base}{}", history(0)))
        .call()?
        .body_mut()
        .read_to_string()
        .map(|body| text = body)?;
    let answer: serde_json::Value = serde_json::from_str(&text)?;
    anyhow::ensure!(
        answer["total"] == PROBE_ROUNDS.min(options.entries),
        "a probe's history has {} events, not {PROBE_ROUNDS}",
        answer["total"]
    );
    for n in 0..probes.min(100) {
        get(&agent, &format!("{base}{}", bundle(n)))?;
    }
    // The service builds its Bloom filters of the lookup runs in the background, prompted by
    // lookups: measure once every live run has one (a service that has been up a while).
    let started = Instant::now();
    loop {
        get(&agent, &format!("{base}{}", history(0)))?;
        let mut metrics = String::new();
        agent
            .get(&format!("{base}/metrics"))
            .call()?
            .body_mut()
            .read_to_string()
            .map(|body| metrics = body)?;
        let unfiltered = metrics
            .lines()
            .find_map(|line| line.strip_prefix("trace_lookup_unfiltered_runs "))
            .and_then(|value| value.trim().parse::<u64>().ok());
        if unfiltered == Some(0) {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the lookup run filters were not built within 10 minutes ({unfiltered:?} runs left)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "Lookup run filters built in {:.1} s.",
        started.elapsed().as_secs_f64()
    );

    println!(
        "Ledger of {} entries; {} probe items of {PROBE_ROUNDS} events each, spread over the log.",
        options.entries, probes
    );
    println!();
    println!(
        "| route | clients | requests | requests/s | server p50 ms | server p99 ms | client p50 ms | client p99 ms | client max ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let result = (|| -> anyhow::Result<()> {
        for (name, path) in [
            ("history (10 events)", history.clone()),
            ("provenance bundle (10 events)", bundle.clone()),
            ("hash tile (full, level 0)", tile.clone()),
            (
                "cold history (1-event items never asked)",
                cold_history.clone(),
            ),
            (
                "cold provenance bundle (1-event items never asked)",
                cold_bundle.clone(),
            ),
        ] {
            if options
                .only
                .as_ref()
                .is_some_and(|only| !name.starts_with(only.as_str()))
            {
                continue;
            }
            let (samples, took) =
                load(&base, options.clients, options.seconds, None, path.clone())?;
            report(name, &options.clients.to_string(), &samples, took);
            let (samples, took) = load(
                &base,
                options.clients.max(32),
                options.seconds,
                Some(options.rate),
                path,
            )?;
            report(
                name,
                &format!("paced at {:.0}/s", options.rate),
                &samples,
                took,
            );
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
