//! The ingest load driver: many concurrent device clients capturing realistic ObjectEvents (5 EPCs,
//! about 700 bytes each) through HTTP into an ingest service started in this process, against the
//! PostgreSQL that `scripts/services` sets up (a database of its own, dropped at the end).
//!
//! For each scenario it reports events/s, capture latency percentiles, and how long after its
//! acknowledgement each capture was covered by a signed checkpoint ("proof-ready"); and, measured
//! in the same run, the rate of a plain `COPY ... BINARY` of the same rows (the events as the
//! ledger stores them) into an unindexed table with durable commits of 10,000 rows: the baseline.
//!
//! Documents are generated and signed before the clock starts, so that the clients spend their
//! CPU on HTTP only. In paced scenarios, latency is measured from each document's scheduled send
//! time (no coordinated omission).
//!
//! Usage: `capture_load [--events N] [--clients N] [--quick] [--only K]` (`--only K`: run the K-th
//! scenario alone, counting from 1).
//!
//! `capture_load --sealed-ab ROUNDS [--events N] [--quick]`: the cost of sealed fields instead.
//! First the CPU time of sealing the five fields of a consumer's delivery data in an event (for
//! two recipients), then ROUNDS rounds of the first scenario captured twice, in alternating
//! order: events carrying the five fields in clear, and the same events with them sealed
//! (`tagtrail_bench::delivery_event_document`); it prints each run's events/s and the ratio of
//! sealed to clear.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use capture_client::{CaptureClient, Credential, DeviceSigner};
use futures_util::pin_mut;
use ledger::batch::DeviceSigningKey;
use ledger::record::{Attestation, LeafRecord};
use ledger::{DeviceId, SiteId, UnixMillis};
use ledger_store::testing::TestDatabase;
use tagtrail_bench::harness::start_ingest;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// The allocator of the `ingest` binary, so that the service measured here runs as deployed.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Rows per durable transaction of the COPY baseline.
const BASELINE_CHUNK: usize = 10_000;

struct Options {
    events: u64,
    clients: usize,
    quick: bool,
    only: Option<usize>,
    sealed_ab: Option<usize>,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        events: 300_000,
        clients: 16,
        quick: false,
        only: None,
        sealed_ab: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => {
                options.events = args.next().context("--events needs a number")?.parse()?
            }
            "--clients" => {
                options.clients = args.next().context("--clients needs a number")?.parse()?
            }
            "--quick" => options.quick = true,
            "--only" => options.only = Some(args.next().context("--only needs a number")?.parse()?),
            "--sealed-ab" => {
                options.sealed_ab = Some(
                    args.next()
                        .context("--sealed-ab needs a number of rounds")?
                        .parse()?,
                )
            }
            other => anyhow::bail!(
                "unknown argument {other:?}; usage: capture_load [--events N] [--clients N] [--quick] [--only K | --sealed-ab ROUNDS]"
            ),
        }
    }
    Ok(options)
}

/// One load scenario.
struct Scenario {
    name: String,
    events_per_document: u64,
    documents: u64,
    clients: usize,
    /// Events per second to offer, or `None` for as fast as the clients go.
    rate: Option<f64>,
    /// What the events carry besides the dock door's read.
    fields: Fields,
}

/// The events' delivery data (`tagtrail_bench::DELIVERY_FIELDS`).
#[derive(Clone)]
enum Fields {
    None,
    Clear,
    Sealed(Vec<ledger::sealed::RecipientKey>),
}

/// A document to send: its number, its bytes and its two device headers.
type SignedDocument = (u64, Vec<u8>, [(&'static str, String); 2]);

struct Outcome {
    events: u64,
    elapsed: Duration,
    /// CPU time the whole machine spent (every process: clients, ingest, PostgreSQL).
    machine_cpu: Duration,
    latencies: Vec<Duration>,
    proof_ready: Vec<Duration>,
    failures: u64,
}

#[allow(clippy::print_stdout)] // the driver's report
fn main() -> anyhow::Result<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("Failed to start the runtime")?;
    runtime.block_on(async {
        let scale = if options.quick { 10 } else { 1 };
        let docs_of = |events: u64, size: u64| (events / size / scale).max(1);
        let n = options.events;
        let scenarios = vec![
            Scenario {
                name: "100-event documents, as fast as possible".into(),
                events_per_document: 100,
                documents: docs_of(n, 100),
                clients: options.clients,
                rate: None,
                fields: Fields::None,
            },
            Scenario {
                name: "100-event documents at 25,000 events/s".into(),
                events_per_document: 100,
                documents: docs_of(n / 2, 100),
                clients: options.clients,
                rate: Some(25_000.0),
                fields: Fields::None,
            },
            Scenario {
                name: "1-event documents, as fast as possible".into(),
                events_per_document: 1,
                documents: docs_of(n / 30, 1),
                clients: options.clients,
                rate: None,
                fields: Fields::None,
            },
            Scenario {
                name: "10-event documents, as fast as possible".into(),
                events_per_document: 10,
                documents: docs_of(n / 5, 10),
                clients: options.clients,
                rate: None,
                fields: Fields::None,
            },
            Scenario {
                name: "1,000-event documents, as fast as possible".into(),
                events_per_document: 1000,
                documents: docs_of(n, 1000),
                clients: options.clients.min(8),
                rate: None,
                fields: Fields::None,
            },
        ];

        if let Some(rounds) = options.sealed_ab {
            return sealed_ab(rounds, docs_of(n, 100), options.clients).await;
        }
        let per_event = pipeline_cost()?;
        let baseline_events = (n / scale).max(BASELINE_CHUNK as u64);
        let baseline = copy_baseline(baseline_events).await?;
        println!("## Ingest load (2-core machine, PostgreSQL local, durable commits)\n");
        println!(
            "Baseline: plain `COPY ... BINARY` of the same {baseline_events} event rows (leaf index, event hash, leaf record, event JSON text) into an unindexed table, commits of {BASELINE_CHUNK}: **{baseline:.0} rows/s**.\n"
        );
        println!(
            "Ingest's CPU time per event on one core (parse, validate, hash, build the leaf records and stored JSON of 100-event documents, no I/O): **{:.1} µs**.\n",
            per_event.as_secs_f64() * 1e6
        );
        println!("| scenario | clients | events | events/s | ratio to COPY | p50 ms | p90 ms | p99 ms | max ms | proof-ready p99 ms | proof-ready max ms | failed | machine CPU µs/event |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        let mut first_event = 1_000_000_000u64;
        for (number, scenario) in (1..).zip(&scenarios) {
            if options.only.is_some_and(|only| only != number) {
                continue;
            }
            let outcome = run_scenario(scenario, first_event).await?;
            first_event += scenario.documents * scenario.events_per_document;
            let rate = outcome.events as f64 / outcome.elapsed.as_secs_f64();
            let mut latencies = outcome.latencies.clone();
            latencies.sort();
            let mut ready = outcome.proof_ready.clone();
            ready.sort();
            println!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {} | {:.1} |",
                scenario.name,
                scenario.clients,
                outcome.events,
                rate,
                rate / baseline,
                ms(percentile(&latencies, 0.50)),
                ms(percentile(&latencies, 0.90)),
                ms(percentile(&latencies, 0.99)),
                ms(latencies.last().copied().unwrap_or_default()),
                ms(percentile(&ready, 0.99)),
                ms(ready.last().copied().unwrap_or_default()),
                outcome.failures,
                outcome.machine_cpu.as_secs_f64() * 1e6 / outcome.events.max(1) as f64,
            );
        }
        Ok(())
    })
}

/// `--sealed-ab`: the CPU cost of sealing, then interleaved captures of the same events with
/// their delivery data in clear and sealed.
#[allow(clippy::print_stdout)] // the driver's report
async fn sealed_ab(rounds: usize, documents: u64, clients: usize) -> anyhow::Result<()> {
    use ledger::sealed::{RecipientSecret, Sealer, seal_event_fields};
    use tagtrail_bench::{DELIVERY_FIELDS, add_delivery_fields, random};

    let recipients: Vec<_> = (0..2)
        .map(|_| RecipientSecret::generate(&mut random).public_key())
        .collect();
    let pointers: Vec<&str> = DELIVERY_FIELDS.iter().map(|(p, _)| *p).collect();
    let mut event =
        serde_json::from_str::<serde_json::Value>(&tagtrail_bench::object_event_json(7))?;
    let event = event
        .as_object_mut()
        .context("the generated event is an object")?;
    add_delivery_fields(event);
    const EVENTS: u32 = 20_000;
    const SEALERS: u32 = 2_000;
    // Fresh copies are made before the clock starts: only sealing is timed.
    let mut copies: Vec<_> = (0..EVENTS).map(|_| event.clone()).collect();
    // A document's sealer seals at most 65,535 values: one per 1,000 events, made beforehand.
    let mut sealers = (0..EVENTS / 1_000)
        .map(|_| Sealer::new(&recipients, &mut random))
        .collect::<Result<Vec<_>, _>>()?;
    // Salts and field keys come from a key stream per sealer, as `tagtrail seal` draws them.
    let mut streams: Vec<_> = sealers
        .iter()
        .map(|_| ledger::sealed::KeyStream::new(&mut random))
        .collect();
    let started = thread_cpu_time();
    for (copy, k) in copies.iter_mut().zip(0usize..) {
        let stream = &mut streams[k / 1_000];
        let mut draw = |bytes: &mut [u8]| stream.fill(bytes);
        seal_event_fields(copy, &pointers, Some(&mut sealers[k / 1_000]), &mut draw)?;
    }
    let per_event = thread_cpu_time().saturating_sub(started) / EVENTS;
    let started = thread_cpu_time();
    for _ in 0..SEALERS {
        std::hint::black_box(Sealer::new(&recipients, &mut random)?);
    }
    let per_sealer = thread_cpu_time().saturating_sub(started) / SEALERS;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("## Sealed fields (2-core machine)\n");
    println!(
        "CPU time on one core, two recipients: sealing the 5 delivery fields of an event **{:.1} µs**; a document's sealer (one HPKE encapsulation per recipient) **{:.1} µs**; so per event of a 1-event document {:.1} µs, of a 100-event document {:.1} µs.\n",
        us(per_event),
        us(per_sealer),
        us(per_event + per_sealer),
        us(per_event) + us(per_sealer) / 100.0,
    );
    println!("| round | order | clear events/s | sealed events/s | sealed / clear |");
    println!("| --- | --- | --- | --- | --- |");
    let mut ratios = Vec::with_capacity(rounds);
    let mut first_event = 2_000_000_000u64;
    for round in 1..=rounds {
        let scenario = |fields| Scenario {
            name: String::new(),
            events_per_document: 100,
            documents,
            clients,
            rate: None,
            fields,
        };
        let clear_first = round % 2 == 1;
        let order = if clear_first {
            [Fields::Clear, Fields::Sealed(recipients.clone())]
        } else {
            [Fields::Sealed(recipients.clone()), Fields::Clear]
        };
        let mut rates = [0.0f64; 2];
        for fields in order {
            let sealed = matches!(fields, Fields::Sealed(_));
            let outcome = run_scenario(&scenario(fields), first_event).await?;
            first_event += documents * 100;
            anyhow::ensure!(
                outcome.failures == 0,
                "{} captures failed",
                outcome.failures
            );
            rates[usize::from(sealed)] = outcome.events as f64 / outcome.elapsed.as_secs_f64();
        }
        let ratio = rates[1] / rates[0];
        ratios.push(ratio);
        println!(
            "| {round} | {} | {:.0} | {:.0} | {ratio:.2} |",
            if clear_first {
                "clear, sealed"
            } else {
                "sealed, clear"
            },
            rates[0],
            rates[1],
        );
    }
    println!(
        "\nMean sealed / clear over {rounds} rounds: **{:.2}**.",
        ratios.iter().sum::<f64>() / ratios.len().max(1) as f64
    );
    Ok(())
}

/// The CPU time the machine has spent since boot, all cores (user, nice, system, interrupts), from
/// `/proc/stat` (in clock ticks of 10 ms); zero where it cannot be read. Divided by the events of a
/// scenario it gives the CPU cost per event whatever else slows the run down.
fn machine_busy() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let ticks: u64 = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .enumerate()
        // user, nice, system, (idle, iowait skipped), irq, softirq
        .filter(|(field, _)| matches!(field, 0 | 1 | 2 | 5 | 6))
        .filter_map(|(_, value)| value.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The CPU time per event of ingest's pure pipeline, on this thread.
fn pipeline_cost() -> anyhow::Result<Duration> {
    let documents: Vec<Vec<u8>> = (0..200)
        .map(|k| tagtrail_bench::object_event_document(k * 100, 100))
        .collect();
    let caller = ingest::auth::Caller::Site {
        site: SiteId::parse("bench-site")?,
        token: registry::TokenId::parse("0123456789abcdef")?,
    };
    let limits = ingest::config::Limits::default();
    let started = thread_cpu_time();
    let mut events = 0;
    for body in &documents {
        let analysed =
            ingest::capture::analyse(body, &limits).map_err(|e| anyhow::anyhow!("{e}"))?;
        let decision = analysed
            .decide(epcis::rest::ErrorBehaviour::Rollback)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let batch = analysed
            .batch(
                &caller,
                None,
                &decision.accepted,
                UnixMillis::from_millis(0),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        events += batch.len();
    }
    let spent = thread_cpu_time().saturating_sub(started);
    Ok(spent / u32::try_from(events.max(1)).unwrap_or(u32::MAX))
}

/// The CPU time this thread has run (Linux `/proc/thread-self/schedstat`), so that the pipeline's
/// cost is not inflated by other processes competing for the CPU.
fn thread_cpu_time() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Runs one scenario against a fresh database and service.
async fn run_scenario(scenario: &Scenario, first_event: u64) -> anyhow::Result<Outcome> {
    let mut signers = Vec::with_capacity(scenario.clients);
    let mut devices = Vec::with_capacity(scenario.clients);
    for client in 0..scenario.clients {
        let device = DeviceId::parse(&format!("bench-device-{client}"))?;
        let key = DeviceSigningKey::from_seed(&[u8::try_from(client % 250).unwrap_or(0) + 1; 32]);
        devices.push((device.clone(), key.public_key()));
        signers.push(DeviceSigner::new(device, key));
    }

    // Documents and their signed headers, per client, before the clock starts.
    let mut work: Vec<Vec<SignedDocument>> = vec![Vec::new(); scenario.clients];
    for k in 0..scenario.documents {
        let client = (k as usize) % scenario.clients;
        let first = first_event + k * scenario.events_per_document;
        let body = match &scenario.fields {
            Fields::None => {
                tagtrail_bench::object_event_document(first, scenario.events_per_document)
            }
            Fields::Clear => {
                tagtrail_bench::delivery_event_document(first, scenario.events_per_document, &[])
            }
            Fields::Sealed(recipients) => tagtrail_bench::delivery_event_document(
                first,
                scenario.events_per_document,
                recipients,
            ),
        };
        let headers = signers[client].headers(&body)?;
        work[client].push((k, body, headers));
    }

    let ingest = start_ingest(
        &["urn:epc:idpat:sgln:0614141.00777.*"],
        &devices,
        |config| {
            config.http.workers = Some(2);
            config.database.pool_size = 24;
        },
    )
    .await?;
    let base = ingest.base.clone();

    // Proof-readiness: the checkpointed tree size over time.
    let polling = Arc::new(AtomicBool::new(true));
    let poller = {
        let polling = polling.clone();
        let client = ingest.db.connect().await?;
        tokio::spawn(async move {
            let mut sizes: Vec<(Instant, u64)> = Vec::new();
            while polling.load(Ordering::Relaxed) {
                if let Ok(row) = client
                    .query_one("SELECT coalesce(max(tree_size), 0) FROM checkpoints", &[])
                    .await
                {
                    let size: i64 = row.get(0);
                    sizes.push((Instant::now(), u64::try_from(size).unwrap_or(0)));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sizes
        })
    };

    let cpu_before = machine_busy();
    let started = Instant::now();
    let per_document = scenario
        .rate
        .map(|rate| Duration::from_secs_f64(scenario.events_per_document as f64 / rate));
    let mut threads = Vec::new();
    for (client_index, documents) in work.into_iter().enumerate() {
        let base = base.clone();
        let signer = DeviceSigner::new(
            DeviceId::parse(&format!("bench-device-{client_index}"))?,
            DeviceSigningKey::from_seed(&[u8::try_from(client_index % 250).unwrap_or(0) + 1; 32]),
        );
        threads.push(std::thread::spawn(move || {
            let client = CaptureClient::new(&base, Credential::Device(signer));
            let mut results = Vec::with_capacity(documents.len());
            for (k, body, headers) in documents {
                let scheduled = per_document
                    .map(|every| started + every * u32::try_from(k).unwrap_or(u32::MAX));
                if let Some(at) = scheduled {
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    }
                }
                let sent = scheduled.unwrap_or_else(Instant::now);
                let mut all = vec![("Content-Type", "application/json".to_owned())];
                all.extend(headers);
                let reply = client.post_raw("/capture", &all, &body);
                let acked = Instant::now();
                let top = match &reply {
                    Ok(reply) if reply.status == 202 => {
                        reply.body["receipts"].as_array().and_then(|receipts| {
                            receipts
                                .iter()
                                .filter_map(|r| r["leafIndex"].as_u64())
                                .max()
                        })
                    }
                    _ => None,
                };
                results.push((acked - sent, acked, top));
            }
            results
        }));
    }
    let mut latencies = Vec::new();
    let mut acks = Vec::new();
    let mut failures = 0;
    for thread in threads {
        let results = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        for (latency, acked, top) in results {
            match top {
                Some(top) => {
                    latencies.push(latency);
                    acks.push((acked, top));
                }
                None => failures += 1,
            }
        }
    }
    let elapsed = started.elapsed();
    let machine_cpu = machine_busy().saturating_sub(cpu_before);
    // Let the checkpoint signer cover the last captures, then stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    polling.store(false, Ordering::Relaxed);
    let sizes = poller.await?;
    drop(ingest.stop().await?);

    let proof_ready = acks
        .iter()
        .map(|(acked, top)| {
            sizes
                .iter()
                .find(|(_, size)| *size > *top)
                .map_or(Duration::from_secs(3600), |(at, _)| {
                    at.saturating_duration_since(*acked)
                })
        })
        .collect();
    Ok(Outcome {
        events: latencies.len() as u64 * scenario.events_per_document,
        elapsed,
        machine_cpu,
        latencies,
        proof_ready,
        failures,
    })
}

/// The COPY baseline: the same kind of event rows as the ledger stores them, written with
/// `COPY ... BINARY` into an unindexed table, durable commits of [`BASELINE_CHUNK`] rows. Returns
/// rows per second.
async fn copy_baseline(events: u64) -> anyhow::Result<f64> {
    let db = TestDatabase::create().await?;
    let mut client = db.connect().await?;
    client
        .batch_execute(
            "CREATE TABLE baseline (leaf_index bigint, event_hash bytea, leaf bytea, event text)",
        )
        .await?;
    // Rows prepared before the clock starts: the hashing is ingest's work, not the baseline's.
    let site = SiteId::parse("bench-site")?;
    let mut rows = Vec::with_capacity(usize::try_from(events).unwrap_or(0));
    let mut n = 0;
    while n < events {
        let count = 100.min(events - n);
        let body = tagtrail_bench::object_event_document(n, count);
        let document = epcis::document::Document::parse(&body)?;
        let hashes = epcis::hash::parsed_document_hashes(&document)?;
        for (event, hash) in document.events().iter().zip(hashes) {
            let json = event.to_json();
            let record = LeafRecord::new(
                hash,
                json.as_bytes(),
                UnixMillis::from_millis(0),
                Attestation::Unattested { site: site.clone() },
            )?;
            rows.push((hash, record.encode(), json));
        }
        n += count;
    }
    let started = Instant::now();
    for (chunk_index, chunk) in rows.chunks(BASELINE_CHUNK).enumerate() {
        let transaction = client.transaction().await?;
        let sink = transaction
            .copy_in("COPY baseline (leaf_index, event_hash, leaf, event) FROM STDIN BINARY")
            .await?;
        let writer =
            BinaryCopyInWriter::new(sink, &[Type::INT8, Type::BYTEA, Type::BYTEA, Type::TEXT]);
        pin_mut!(writer);
        for (offset, (hash, leaf, event)) in chunk.iter().enumerate() {
            let index = i64::try_from(chunk_index * BASELINE_CHUNK + offset).unwrap_or(i64::MAX);
            let hash = hash.as_bytes().as_slice();
            let values: [&(dyn ToSql + Sync); 4] = [&index, &hash, leaf, event];
            writer.as_mut().write(&values).await?;
        }
        writer.finish().await?;
        transaction.commit().await?;
    }
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64())
}
