//! The ledger's load benchmarks against a real PostgreSQL (the one `scripts/services` sets up):
//!
//! 1. the baseline: a plain `COPY ... BINARY` of the same events, one row each, into an unindexed
//!    table (text and jsonb event columns), durable commits of 10,000 rows;
//! 2. appends through the sequencer, durable, with the lookup indexer and the checkpoint signer
//!    running as in production: batches of 100 and 1,000 events from 1 and 4 concurrent appenders
//!    (4 tasks sharing one sequencer, as in one ingest process, and 4 sequencers on 4 connections,
//!    as 4 ingest processes), and last, 1,000-event batches from 16 tasks sharing one sequencer;
//! 3. inclusion and consistency proofs read from the stored tiles at 1M and 10M entries;
//! 4. the audit rate, with and without recomputing event hashes.
//!
//! Prints a Markdown table per part. Each part runs on a database of its own, created from the
//! migrated template and dropped at the end.
//!
//! Usage: `ledger-bench [--events N] [--proof-sizes N,N] [--skip-append] [--skip-proofs] [--audit-only]
//! [--audits R] [--only K]` (`--audit-only`: build a log of N events with one appender, then time only
//! the audit; `--audits R`: run each kind of audit R times, one row each; `--only K`: of the append
//! runs, only the K-th row, counting from 1).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::pin_mut;
use ledger::checkpoint::Origin;
use ledger::note::{KeyName, NoteSignerKey};
use ledger::tiles::TileFrontier;
use ledger::tree::{ConsistencyProof, InclusionProof, MemoryTree};
use ledger::{Hash, LeafIndex, TreeSize, leaf_hash};
use ledger_store::testing::{EventFactory, TestDatabase};
use ledger_store::{
    AuditOptions, Checkpointer, Indexer, NewBatch, NoProgress, Sequencer, SequencerStats, Writer,
    audit,
};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// Rows per durable transaction of the COPY baseline.
const BASELINE_CHUNK: usize = 10_000;
/// Proofs timed per kind and size.
const PROOFS: usize = 2_000;

struct Options {
    events: usize,
    proof_sizes: Vec<u64>,
    append: bool,
    proofs: bool,
    audit_only: bool,
    audits: usize,
    only: Option<usize>,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        events: 500_000,
        proof_sizes: vec![1_000_000, 10_000_000],
        append: true,
        proofs: true,
        audit_only: false,
        audits: 1,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => {
                options.events = args.next().context("--events needs a number")?.parse()?;
            }
            "--proof-sizes" => {
                let list = args.next().context("--proof-sizes needs a list")?;
                options.proof_sizes = list.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--skip-append" => options.append = false,
            "--skip-proofs" => options.proofs = false,
            "--audit-only" => options.audit_only = true,
            "--audits" => {
                options.audits = args.next().context("--audits needs a number")?.parse()?
            }
            "--only" => options.only = Some(args.next().context("--only needs a number")?.parse()?),
            other => anyhow::bail!(
                "unknown argument {other}; usage: ledger-bench [--events N] [--proof-sizes N,N] [--skip-append] [--skip-proofs] [--audit-only] [--audits R] [--only K]"
            ),
        }
    }
    Ok(options)
}

#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if options.audit_only {
            return audit_only(options.events, options.audits).await;
        }
        if options.append {
            append_benchmarks(options.events, options.only, options.audits).await?;
        }
        if options.proofs {
            proof_benchmarks(&options.proof_sizes).await?;
        }
        Ok(())
    })
}

/// Pre-generated, hashed events: the CBV hashing is ingest's cost, not the ledger's.
fn generate_events(count: usize) -> Vec<(String, epcis::EventHash)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let factory = EventFactory::new("dock-door-1", 1);
                    let start = t * per_thread;
                    let end = ((t + 1) * per_thread).min(count);
                    (start..end)
                        .map(|n| factory.hashed_event(n as u64))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_default())
            .collect()
    })
}

/// The events as signed device batches of `size`, with their lookup keys attached (as ingest
/// attaches them) or not (the indexer then parses the stored JSON).
fn batches(events: &[(String, epcis::EventHash)], size: usize, keys: Keys) -> Vec<NewBatch> {
    let mut factory = EventFactory::new("dock-door-1", 1);
    if keys == Keys::Parsed {
        factory = factory.without_lookup_keys();
    }
    events
        .chunks(size)
        .map(|chunk| factory.batch_from(chunk.to_vec()))
        .collect()
}

#[allow(clippy::print_stdout)]
async fn append_benchmarks(count: usize, only: Option<usize>, audits: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let events = generate_events(count);
    let mean_len = events.iter().map(|(json, _)| json.len()).sum::<usize>() / count.max(1);
    println!(
        "generated and hashed {count} events ({mean_len} bytes of JSON on average) in {:.1} s\n",
        started.elapsed().as_secs_f64()
    );

    // The baseline rows: one row per entry with what the sequencer stores of it (leaf index, event
    // hash, leaf record, event), without the ledger's layout (event packs, entry bundles, tiles).
    let rows: Vec<(i64, [u8; 32], Vec<u8>, String)> = batches(&events, 1000, Keys::Parsed)
        .iter()
        .flat_map(|batch| batch.entries().to_vec())
        .enumerate()
        .map(|(i, entry)| {
            (
                i64::try_from(i).unwrap_or(i64::MAX),
                *entry.event_hash().as_bytes(),
                entry.record().encode(),
                entry.event().to_owned(),
            )
        })
        .collect();
    let db = TestDatabase::create().await?;
    let store = Writer::connect(db.url())?;
    let text_rate = copy_baseline(&store, &rows, "text").await?;
    let jsonb_rate = copy_baseline(&store, &rows, "jsonb").await?;
    drop(store);
    drop(db);
    println!(
        "| baseline: plain COPY BINARY into an unindexed table, durable commits of {BASELINE_CHUNK} rows | events/s |"
    );
    println!("| --- | ---: |");
    println!("| event column `text` (what the ledger stores) | {text_rate:.0} |");
    println!("| event column `jsonb` | {jsonb_rate:.0} |\n");

    println!(
        "| batch | appenders | lookup keys | lookup indexer | append events/s | × COPY (text) | groups (on top of a committing one) | index lag at end | caught up after | append + catch-up events/s | checkpoints, max gap |"
    );
    println!("| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut kept = None;
    let mut indexer_alone = Vec::new();
    for (size, appenders, shared, indexing, keys) in [
        (100, 1, true, true, Keys::Handed),
        (1000, 1, true, true, Keys::Handed),
        (100, 4, true, true, Keys::Handed),
        (1000, 4, true, true, Keys::Handed),
        (100, 4, false, true, Keys::Handed),
        (1000, 4, false, true, Keys::Handed),
        (1000, 1, true, true, Keys::Parsed),
        (1000, 1, true, false, Keys::Handed),
        (1000, 1, true, false, Keys::Parsed),
        (1000, 16, true, true, Keys::Handed),
    ]
    .into_iter()
    .zip(1..)
    .filter(|(_, number)| only.is_none_or(|only| only == *number))
    .map(|(config, _)| config)
    {
        let run = append_run(&events, size, appenders, shared, indexing, keys).await?;
        let who = match (appenders, shared) {
            (1, _) => "1".to_owned(),
            (n, true) => format!("{n} tasks, one sequencer"),
            (n, false) => format!("{n} sequencers (connections)"),
        };
        let keys_label = match keys {
            Keys::Handed => "attached",
            Keys::Parsed => "parsed from stored JSON",
        };
        println!(
            "| {size} | {who} | {keys_label} | {} | {:.0} | {:.2} | {} ({}) | {} | {:.2} s | {:.0} | {}, {:.2} s |",
            if indexing {
                "running"
            } else {
                "paused, run after"
            },
            run.rate,
            run.rate / text_rate,
            run.groups.committed,
            run.groups.on_top,
            run.lag_at_end,
            run.catch_up.as_secs_f64(),
            count as f64 / (run.elapsed + run.catch_up).as_secs_f64(),
            run.checkpoints,
            run.max_checkpoint_gap.as_secs_f64(),
        );
        if !indexing {
            indexer_alone.push((keys_label, count as f64 / run.catch_up.as_secs_f64()));
        }
        if size == 1000 && appenders == 1 && indexing && keys == Keys::Handed {
            kept = Some(run.db);
        }
    }
    println!();
    for (keys_label, rate) in indexer_alone {
        println!(
            "lookup indexer alone (catching up {count} entries, nothing else running), keys {keys_label}: {rate:.0} entries/s\n"
        );
    }

    if let Some(db) = kept {
        audit_table(&db, count, audits).await?;
    }
    Ok(())
}

/// Builds a log of `count` events (batches of 1,000, one appender, no indexer) and audits it.
#[allow(clippy::print_stdout)]
async fn audit_only(count: usize, repeats: usize) -> anyhow::Result<()> {
    let events = generate_events(count);
    let run = append_run(&events, 1000, 1, true, false, Keys::Handed).await?;
    println!("appended {count} events at {:.0} events/s\n", run.rate);
    audit_table(&run.db, count, repeats).await
}

/// Times the audit of the log in `db`, with and without recomputing event hashes.
#[allow(clippy::print_stdout)]
async fn audit_table(db: &TestDatabase, count: usize, repeats: usize) -> anyhow::Result<()> {
    // Register the benchmark's device, as ingest's registry would hold it: the audit then checks
    // every batch signature under its key.
    let key = EventFactory::new("dock-door-1", 1).public_key().to_bytes();
    db.connect()
        .await?
        .execute(
            "WITH site AS (INSERT INTO sites (site_id) VALUES ('bench-site')),
                  device AS (INSERT INTO devices (device_id, site_id) VALUES ('dock-door-1', 'bench-site'))
             INSERT INTO device_keys (device_id, algorithm, public_key) VALUES ('dock-door-1', 'ed25519', $1)",
            &[&key],
        )
        .await?;
    let store = Writer::connect(db.url())?;
    println!("| audit of the {count}-entry log | entries/s |");
    println!("| --- | ---: |");
    for (label, options) in [
        (
            "recomputing event hashes (2 hashing threads)",
            AuditOptions {
                recompute_event_hashes: true,
                hashing_threads: 2,
            },
        ),
        (
            "without event hashes (leaves, tiles, batches and their signatures, checkpoints)",
            AuditOptions {
                recompute_event_hashes: false,
                hashing_threads: 0,
            },
        ),
    ] {
        for _ in 0..repeats.max(1) {
            let started = Instant::now();
            let device_keys = registry::device_keys_in;
            let report = audit(&store, options, device_keys, Arc::new(NoProgress)).await?;
            let seconds = started.elapsed().as_secs_f64();
            anyhow::ensure!(
                report.problem.is_none(),
                "the benchmark log fails its audit: {:?}",
                report.problem
            );
            anyhow::ensure!(
                report.device_signatures_verified == report.device_batches,
                "only {} of {} batch signatures were checked",
                report.device_signatures_verified,
                report.device_batches
            );
            println!("| {label} | {:.0} |", report.entries as f64 / seconds);
        }
    }
    println!();
    Ok(())
}

/// COPYs the rows into a fresh unindexed table with the event column of type `event_type`.
async fn copy_baseline(
    store: &Writer,
    rows: &[(i64, [u8; 32], Vec<u8>, String)],
    event_type: &str,
) -> anyhow::Result<f64> {
    let mut client = store.test_client().await?;
    let table = format!("copy_baseline_{event_type}");
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (leaf_index bigint, event_hash bytea, leaf bytea, event {event_type})"
        ))
        .await?;
    let column_type = if event_type == "jsonb" {
        Type::JSONB
    } else {
        Type::TEXT
    };
    let started = Instant::now();
    for chunk in rows.chunks(BASELINE_CHUNK) {
        let transaction = client.transaction().await?;
        let sink = transaction
            .copy_in(&format!("COPY {table} FROM STDIN BINARY"))
            .await?;
        let writer = BinaryCopyInWriter::new(
            sink,
            &[Type::INT8, Type::BYTEA, Type::BYTEA, column_type.clone()],
        );
        pin_mut!(writer);
        for (leaf, hash, record, event) in chunk {
            let hash = hash.as_slice();
            let event = JsonOrText(event, event_type == "jsonb");
            let values: [&(dyn ToSql + Sync); 4] = [leaf, &hash, record, &event];
            writer.as_mut().write(&values).await?;
        }
        writer.finish().await?;
        transaction.commit().await?;
    }
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64())
}

/// Event JSON text sent as `text`, or as `jsonb` (whose binary form is a version byte, 1, then the
/// JSON text).
#[derive(Debug)]
struct JsonOrText<'a>(&'a str, bool);

impl ToSql for JsonOrText<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if self.1 {
            out.extend_from_slice(&[1]);
        }
        out.extend_from_slice(self.0.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TEXT || *ty == Type::JSONB
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Whether the appended entries carry their lookup keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// Attached by the appender and handed to the indexer in memory.
    Handed,
    /// Not attached: the indexer reads the stored JSON back and parses it.
    Parsed,
}

struct AppendRun {
    rate: f64,
    elapsed: Duration,
    lag_at_end: u64,
    catch_up: Duration,
    checkpoints: i64,
    max_checkpoint_gap: Duration,
    /// Groups committed by the sequencers, and how many of them were written on top of a
    /// committing one.
    groups: SequencerStats,
    db: TestDatabase,
}

async fn append_run(
    events: &[(String, epcis::EventHash)],
    size: usize,
    appenders: usize,
    shared: bool,
    indexing: bool,
    keys: Keys,
) -> anyhow::Result<AppendRun> {
    let db = TestDatabase::create().await?;
    let store = Writer::connect_with_pool_size(db.url(), 16)?;
    let signer = NoteSignerKey::from_seed(KeyName::parse("bench.tagtrail/log")?, &[7; 32]);
    let checkpointer = Checkpointer::new(
        &store,
        Origin::parse("bench.tagtrail/log")?,
        Arc::new(signer),
    )
    .spawn();
    let indexer = indexing.then(|| Indexer::new(&store).spawn());
    let all = batches(events, size, keys);
    let mut shares: Vec<Vec<NewBatch>> = (0..appenders).map(|_| Vec::new()).collect();
    for (i, batch) in all.into_iter().enumerate() {
        shares[i % appenders].push(batch);
    }
    let one = Sequencer::start(&store);

    let started = Instant::now();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let sequencer = if shared {
                one.clone()
            } else {
                Sequencer::start(&store)
            };
            tokio::spawn(async move {
                for batch in share {
                    sequencer.append(batch).await?;
                }
                // A shared sequencer's counters are read once, below.
                let own = (!shared).then(|| sequencer.stats());
                sequencer.shutdown().await;
                anyhow::Ok(own)
            })
        })
        .collect();
    let mut groups = SequencerStats::default();
    for task in tasks {
        if let Some(own) = task.await?? {
            groups.committed += own.committed;
            groups.on_top += own.on_top;
        }
    }
    let elapsed = started.elapsed();
    if shared {
        groups = one.stats();
    }
    one.shutdown().await;

    let client = store.test_client().await?;
    let watermark: i64 = client
        .query_one("SELECT indexed_size FROM index_watermark", &[])
        .await?
        .get(0);
    let lag_at_end = (events.len() as u64).saturating_sub(u64::try_from(watermark).unwrap_or(0));
    let catch_started = Instant::now();
    if let Some(indexer) = indexer {
        indexer.shutdown().await;
    }
    Indexer::new(&store).catch_up().await?;
    let catch_up = catch_started.elapsed();
    checkpointer.shutdown().await;
    let row = client
        .query_one(
            "SELECT count(*), coalesce(extract(epoch FROM max(gap)), 0)::float8 FROM (
                 SELECT signed_at - lag(signed_at) OVER (ORDER BY tree_size, index_size) AS gap FROM checkpoints
             ) gaps",
            &[],
        )
        .await?;
    let size_now = store.tree_size().await?;
    anyhow::ensure!(
        size_now.get() == events.len() as u64,
        "the log has {size_now} entries"
    );
    Ok(AppendRun {
        rate: events.len() as f64 / elapsed.as_secs_f64(),
        elapsed,
        lag_at_end,
        catch_up,
        checkpoints: row.get(0),
        max_checkpoint_gap: Duration::from_secs_f64(row.get::<_, f64>(1)),
        groups,
        db,
    })
}

#[allow(clippy::print_stdout)]
async fn proof_benchmarks(sizes: &[u64]) -> anyhow::Result<()> {
    println!("| tree size | tile rows | inclusion proof p50 / p99 | consistency proof p50 / p99 |");
    println!("| ---: | ---: | ---: | ---: |");
    for &size in sizes {
        let db = TestDatabase::create().await?;
        let store = Writer::connect(db.url())?;
        let (rows, root) = write_synthetic_tiles(&store, size).await?;
        let tree_size = TreeSize::new(size)?;
        // An independent in-memory tree to verify every proof against.
        let tree = MemoryTree::from_leaf_hashes((0..size).map(synthetic_leaf))?;
        anyhow::ensure!(
            tree.root() == root,
            "the tiles' root differs from the tree's"
        );
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let mut inclusion = Vec::with_capacity(PROOFS);
        let mut consistency = Vec::with_capacity(PROOFS);
        for _ in 0..PROOFS {
            let leaf = next(size);
            let started = Instant::now();
            let proof: InclusionProof = store
                .inclusion_proof(LeafIndex::new(leaf)?, tree_size)
                .await?;
            inclusion.push(started.elapsed());
            proof.verify(&synthetic_leaf(leaf), &root)?;

            let old = TreeSize::new(1 + next(size - 1))?;
            let started = Instant::now();
            let proof: ConsistencyProof = store.consistency_proof(old, tree_size).await?;
            consistency.push(started.elapsed());
            proof.verify(&tree.root_at(old)?, &root)?;
        }
        println!(
            "| {size} | {rows} | {} / {} | {} / {} |",
            micros(percentile(&mut inclusion, 50)),
            micros(percentile(&mut inclusion, 99)),
            micros(percentile(&mut consistency, 50)),
            micros(percentile(&mut consistency, 99)),
        );
    }
    println!();
    Ok(())
}

fn synthetic_leaf(i: u64) -> Hash {
    leaf_hash(&i.to_be_bytes())
}

/// Writes the tiles of a tree of `size` synthetic leaves as the sequencer would with batches of
/// 1,000 (every full tile, and each batch's partial tiles); returns the row count and the root.
async fn write_synthetic_tiles(
    store: &Writer,
    size: u64,
) -> anyhow::Result<(u64, ledger::RootHash)> {
    let mut client = store.test_client().await?;
    let transaction = client.transaction().await?;
    let sink = transaction
        .copy_in("COPY tiles (level, tile_index, width, hashes) FROM STDIN BINARY")
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT2, Type::INT8, Type::INT2, Type::BYTEA]);
    pin_mut!(writer);
    let mut frontier = TileFrontier::new();
    let mut rows = 0u64;
    let mut start = 0u64;
    while start < size {
        let end = (start + 1000).min(size);
        let leaves: Vec<Hash> = (start..end).map(synthetic_leaf).collect();
        for tile in frontier.append(&leaves)? {
            let id = tile.id();
            let level = i16::from(id.level());
            let index = i64::try_from(id.index())?;
            let width = i16::try_from(id.width())?;
            let bytes = tile.to_bytes();
            let values: [&(dyn ToSql + Sync); 4] = [&level, &index, &width, &bytes];
            writer.as_mut().write(&values).await?;
            rows += 1;
        }
        start = end;
    }
    writer.finish().await?;
    transaction.commit().await?;
    client.batch_execute("VACUUM ANALYZE tiles").await?;
    Ok((rows, frontier.root()))
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    let at = (samples.len() * p / 100).min(samples.len().saturating_sub(1));
    samples.get(at).copied().unwrap_or_default()
}

fn micros(duration: Duration) -> String {
    format!("{:.0} µs", duration.as_secs_f64() * 1e6)
}
