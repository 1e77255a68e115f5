//! The bridge's end-to-end figures, against an ingest service started in this process on a
//! database of its own (the PostgreSQL of `scripts/services`):
//!
//! 1. **Portal pass to receipts.** A 1,700-tag pass (three notices per tag, 5,100 JRD frames) is
//!    written in one burst to a pseudo-terminal that a bridge (`firmware_bridge::startup::run`, in
//!    this process) reads as its JRD module; the clock runs from the first frame until the ledger
//!    holds every one of the 1,700 EPCs, i.e. until ingest has committed them and sent the receipts
//!    (it answers right after the commit). A cycle of smoothing is the floor: a tag seen at the
//!    start of a cycle is reported at its end. Baseline, same run: the same events, built the same
//!    way, captured directly by a device client (sign, POST, commit, receipts), with no bridge.
//! 2. **Resident memory under load.** The `firmware-bridge` release binary (`run`) reads the
//!    `firmware-bridge simulate` binary streaming 2,000 tags five times a second (10,000 reads/s)
//!    and uploads to the same ingest; its resident set (`VmRSS`, peak `VmHWM`) is sampled from
//!    `/proc`. Baseline, same run: the same process idle, before the simulator starts. The read
//!    rate achieved is read from the bridge's own metrics.
//!
//! Usage (build the binaries first, the driver runs them from its own directory):
//!
//! ```sh
//! cargo build --release -p firmware-bridge
//! cargo run --release -p tagtrail-bench --bin bridge-bench [-- --passes 5 --rss-seconds 20]
//! ```

#![allow(clippy::print_stdout)] // A command-line driver: its report is its output.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use capture_client::{CaptureClient, Credential, DeviceSigner};
use firmware_bridge::config::Config;
use firmware_bridge::read::{ReaderId, TagRead};
use firmware_bridge::simulator::{TagPopulation, notice_bytes, portal_pass};
use firmware_bridge::smoothing::Smoother;
use futures_util::StreamExt as _;
use ledger::batch::DeviceSigningKey;
use ledger::{DeviceId, UnixMillis};
use tagtrail_bench::harness::{IngestUnderTest, start_ingest};
use tokio::io::AsyncWriteExt as _;
use tokio_serial::SerialPort as _;
use tokio_util::sync::CancellationToken;

const TAGS: usize = 1_700;
const READS_PER_TAG: usize = 3;
const DEVICE: &str = "urn:tagtrail:device:bench-dock";
const DEVICE_SEED: [u8; 32] = [9; 32];
const READ_POINT: &str = "urn:epc:id:sgln:0614141.00777.0";
/// Smoothing cycles measured: a fast portal setting, the default and a slow one.
const CYCLES_MS: [u64; 3] = [250, 500, 1_000];

struct Options {
    passes: usize,
    rss_seconds: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        passes: 5,
        rss_seconds: 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> anyhow::Result<u64> {
            args.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--passes" => options.passes = usize::try_from(value("--passes")?)?.max(1),
            "--rss-seconds" => options.rss_seconds = value("--rss-seconds")?.max(1),
            other => {
                anyhow::bail!("unknown argument {other} (expected --passes N, --rss-seconds N)")
            }
        }
    }
    Ok(options)
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

async fn run(options: Options) -> anyhow::Result<()> {
    let device = DeviceId::parse(DEVICE)?;
    let key = DeviceSigningKey::from_seed(&DEVICE_SEED);
    let ingest = start_ingest(
        &["urn:epc:idpat:sgln:0614141.00777.*"],
        &[(device.clone(), key.public_key())],
        |_| {},
    )
    .await?;
    println!("load average at start: {}", load_average());

    let mut first_serial = 1u64;
    for cycle_ms in CYCLES_MS {
        let mut bridge = Vec::new();
        let mut direct = Vec::new();
        for _ in 0..options.passes {
            bridge.push(pass_through_bridge(&ingest, cycle_ms, first_serial).await?);
            first_serial += TAGS as u64;
            direct.push(direct_capture(&ingest, cycle_ms, first_serial).await?);
            first_serial += TAGS as u64;
        }
        bridge.sort();
        direct.sort();
        let median = |sorted: &[Duration]| sorted[sorted.len() / 2];
        println!(
            "1,700-tag pass, cycle {cycle_ms} ms, {} passes: first frame -> receipts median {:.0} ms (min {:.0}, max {:.0}); \
             of which past the cycle: {:.0} ms; direct capture of the same events: median {:.0} ms; ratio {:.2}",
            options.passes,
            ms(median(&bridge)),
            ms(bridge[0]),
            ms(bridge[bridge.len() - 1]),
            ms(median(&bridge)) - cycle_ms as f64,
            ms(median(&direct)),
            ms(median(&bridge)) / ms(median(&direct)),
        );
    }

    resident_memory(&ingest, options.rss_seconds).await?;
    println!("load average at end: {}", load_average());
    drop(ingest.stop().await?);
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// How many EPCs the ledger's events list, in all.
async fn epcs_in_ledger(client: &tokio_postgres::Client) -> anyhow::Result<i64> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(json_array_length((event::json)->'epcList')), 0)::bigint FROM events",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

fn bridge_config(
    port: &str,
    spool: &Path,
    upload: &str,
    cycle_ms: u64,
    metrics: Option<u16>,
) -> String {
    let metrics = metrics.map_or(String::new(), |port| {
        format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n")
    });
    format!(
        r#"
[device]
id = "{DEVICE}"
key_file = "unused-in-process"

[smoothing]
cycle = "{cycle_ms}ms"
absence = "60000ms"
max_epcs_per_event = 500

[[reader]]
id = "dock-door-1"
kind = "jrd"
port = "{port}"

[[read_point]]
reader = "dock-door-1"
read_point = "{READ_POINT}"
biz_location = "{READ_POINT}"
biz_step = "receiving"
disposition = "in_progress"
action = "OBSERVE"

[spool]
path = "{spool}"

[upload]
url = "{upload}/capture"
batch_size = 1000
retry_min = "20ms"
retry_max = "500ms"

{metrics}"#,
        spool = spool.display(),
    )
}

fn temp_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("bridge-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// One pass through a bridge in this process; the time from the first frame to the last EPC in
/// the ledger.
async fn pass_through_bridge(
    ingest: &IngestUnderTest,
    cycle_ms: u64,
    first_serial: u64,
) -> anyhow::Result<Duration> {
    let dir = temp_dir("pass")?;
    let (master, slave) =
        tokio_serial::SerialStream::pair().context("Failed to open a pty pair")?;
    let port = slave.name().context("the pty has no name")?;
    let config = Config::from_toml(&bridge_config(
        &port,
        &dir.join("spool.sqlite"),
        &ingest.base,
        cycle_ms,
        None,
    ))?;
    let cancel = CancellationToken::new();
    let bridge = tokio::spawn(firmware_bridge::startup::run(
        config,
        DeviceSigningKey::from_seed(&DEVICE_SEED),
        cancel.clone(),
    ));
    // The session is reading once it has started the inventory.
    let mut module =
        tokio_util::codec::Framed::new(master, firmware_bridge::codec::jrd::JrdCodec::new());
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = module.next().await {
            let frame = message?.to_frame();
            if frame.command() == firmware_bridge::codec::jrd::CMD_MULTI_POLL {
                return Ok::<_, anyhow::Error>(());
            }
        }
        anyhow::bail!("the pty closed")
    })
    .await
    .context("the bridge never started the inventory")??;
    let population = TagPopulation::sgtin96(TAGS, first_serial);
    let burst = notice_bytes(&portal_pass(&population, 300, READS_PER_TAG, first_serial));
    // One connection for all the polling (a connection per poll would load the machine).
    let client = ingest.db.connect().await?;
    let before = epcs_in_ledger(&client).await?;
    let target = before + TAGS as i64;

    let started = Instant::now();
    module.get_mut().write_all(&burst).await?;
    let deadline = started + Duration::from_secs(60);
    while epcs_in_ledger(&client).await? < target {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the pass did not reach the ledger within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let latency = started.elapsed();

    cancel.cancel();
    bridge.await??;
    drop(slave);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(latency)
}

/// The same events as a pass produces, built offline with the bridge's own smoother and event
/// builder, captured directly by a device client; the time of that one capture.
async fn direct_capture(
    ingest: &IngestUnderTest,
    cycle_ms: u64,
    first_serial: u64,
) -> anyhow::Result<Duration> {
    let config = Config::from_toml(&bridge_config(
        "/dev/null",
        Path::new("unused"),
        &ingest.base,
        cycle_ms,
        None,
    ))?;
    let mut smoother = Smoother::new(config.smoothing, &config.read_points);
    let reader = ReaderId::parse("dock-door-1")?;
    let now = firmware_bridge::serial::system_now();
    let population = TagPopulation::sgtin96(TAGS, first_serial);
    let mut built = Vec::new();
    for timed in portal_pass(&population, 300, READS_PER_TAG, first_serial) {
        let read = TagRead {
            reader: reader.clone(),
            antenna: 1,
            epc: timed.notice.epc().clone(),
            tid: None,
            rssi_centi_dbm: Some(i32::from(timed.notice.rssi_dbm()) * 100),
            seen_at: now,
        };
        smoother.push(&read, &mut built);
    }
    smoother.advance(
        UnixMillis::from_millis(now.as_millis() + cycle_ms + 1),
        &mut built,
    );
    let events: Vec<_> = built
        .iter()
        .map(firmware_bridge::event::object_event)
        .collect();
    let body = serde_json::to_vec(&firmware_bridge::event::capture_document(&events, now))?;
    let base = ingest.base.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Duration> {
        let signer = DeviceSigner::new(
            DeviceId::parse(DEVICE)?,
            DeviceSigningKey::from_seed(&DEVICE_SEED),
        );
        let client = CaptureClient::new(&base, Credential::Device(signer));
        // Signing the batch statement is part of the capture, as it is of an upload.
        let started = Instant::now();
        let reply = client.capture(&body, None)?;
        let latency = started.elapsed();
        anyhow::ensure!(
            reply.status == 202,
            "direct capture refused: {} {}",
            reply.status,
            reply.body
        );
        Ok(latency)
    })
    .await?
}

/// `(VmRSS, VmHWM)` of a process, in KiB.
fn resident_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The sum of the bridge's `firmware_bridge_reads_total` counters.
fn reads_counted(metrics_port: u16) -> anyhow::Result<f64> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", metrics_port))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text
        .lines()
        .filter(|line| line.starts_with("firmware_bridge_reads_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn resident_memory(ingest: &IngestUnderTest, seconds: u64) -> anyhow::Result<()> {
    let binary = std::env::current_exe()?
        .parent()
        .context("the driver has no directory")?
        .join("firmware-bridge");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: run `cargo build --release -p firmware-bridge` first",
        binary.display()
    );
    let dir = temp_dir("rss")?;
    let link = dir.join("ttyJRD");
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("bridge.toml");
    let key_file = dir.join("device.key");
    std::fs::write(
        &key_file,
        DEVICE_SEED
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>(),
    )?;
    let text = bridge_config(
        link.to_str().context("temp path")?,
        &dir.join("spool.sqlite"),
        &ingest.base,
        1_000,
        Some(metrics_port),
    )
    .replace("unused-in-process", key_file.to_str().context("temp path")?);
    std::fs::write(&config, text)?;
    let bridge = Killed(
        Command::new(&binary)
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let pid = bridge.0.id();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (idle, _) = resident_kib(pid)?;

    let _simulator = Killed(
        Command::new(&binary)
            .args([
                "simulate",
                "--tags",
                "2000",
                "--pass-ms",
                "1000",
                "--reads-per-tag",
                "5",
                "--link",
            ])
            .arg(&link)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    // Wait until reads flow, then measure.
    let deadline = Instant::now() + Duration::from_secs(30);
    while reads_counted(metrics_port).unwrap_or(0.0) < 10_000.0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no reads reached the bridge within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reads_before = reads_counted(metrics_port)?;
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        samples.push(resident_kib(pid)?.0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rate = (reads_counted(metrics_port)? - reads_before) / started.elapsed().as_secs_f64();
    let (_, peak) = resident_kib(pid)?;
    samples.sort_unstable();
    println!(
        "resident memory: idle {:.1} MiB; under {:.0} reads/s for {seconds} s: median {:.1} MiB, peak (VmHWM) {:.1} MiB; peak/idle {:.2}",
        idle as f64 / 1024.0,
        rate,
        samples[samples.len() / 2] as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak as f64 / idle as f64,
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
