//! The hostile-client load driver: how trace-api serves other clients while one address attacks
//! it, and how much memory it takes, against the release binary with its default settings.
//!
//! A ledger of its own (`--entries`, 200,000 by default, in `tagtrail_hostile_load_v2_<N>`; kept for
//! later runs): realistic ObjectEvents, 1,000 probe items of 10 events spread over the log, and
//! 200 events of 0.76 MB naming one returnable asset (the memory attack's data). Victims: four
//! clients, each from its own loopback address (127.0.0.2 to .5), each asking for warm probe
//! histories at 40 requests/s (under the default limit of 50 per address) on a kept-alive
//! connection; their latency is measured from each request's scheduled time. Then, phase by
//! phase, one address (127.0.0.1) attacks with 16 threads as fast as they go, and the victims'
//! latency, the attacker's answers and trace-api's peak resident set (`VmHWM`, reset before each
//! phase) are reported:
//!
//! - `none`: no attack (the baseline the ratios divide by);
//! - `probes`: `/health/ready` and `/metrics`, alternately;
//! - `histories`: warm probe histories (a public route);
//! - `histories from a /64`: the same, each new connection from the next of 64 addresses of one
//!   IPv6 /64 (added to the loopback interface for the run, which needs root; the phase is not
//!   run without);
//! - `tiles`: every partial width of full hash tiles;
//! - `large events`: the asset's history with `?limit=1000` (each would load 152 MB of events);
//! - `large answers`: another asset's history of 60 such events (46 MB, answered);
//! - `slow clients`: connections that send their request's head a byte every 300 ms.
//!
//! Target (the hardening issue): a flood of any public route from one address leaves the other
//! clients' p99 within 2 × its unloaded value.
//!
//! With `--nice` the attacker runs in a process of its own at the lowest CPU priority
//! (`nice -n 19`, this program's `--attacker` mode): on one machine the attacking threads
//! otherwise take the cores trace-api and the victims need, which an attacker on its own machine
//! would not; the figures then show what trace-api itself does with the flood.
//!
//! Usage: `hostile_load [--entries N] [--seconds S] [--rebuild] [--nice] [--attack NAME]...`
//! (`--attack`: only the attacks named, after the unloaded baseline; the `trace-api` binary must be
//! built next to this one: `cargo build --release -p trace-api -p tagtrail-bench --bin
//! hostile_load`).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tagtrail_bench::trace::{
    LedgerSpec, hashed, ledger, percent_encode, percentile, probe, start_trace_api_on, wait_ready,
};

/// The returnable asset the large events name (a history too large to answer).
const ASSET: &str = "urn:epc:id:grai:0614141.12345.400";
/// The returnable asset fewer large events name (a large history that is answered).
const ANSWERED: &str = "urn:epc:id:grai:0614141.12345.401";
/// The large events naming [`ANSWERED`]: 46 MB, under the default 64 MiB an answer may load.
const ANSWERED_EVENTS: u64 = 60;
/// Probe items whose histories the victims ask for.
const PROBES: u64 = 1000;
/// Victim clients, one per address.
const VICTIMS: u8 = 4;
/// Each victim's requests per second.
const VICTIM_RATE: f64 = 40.0;
/// The attacker's threads.
const ATTACKERS: usize = 16;

struct Options {
    entries: u64,
    seconds: u64,
    rebuild: bool,
    /// The attacker in a process of its own at the lowest CPU priority (`nice -n 19`).
    nice: bool,
    /// The attacks to run (`--attack NAME`, repeated); every one when none is named.
    only: Vec<String>,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        entries: 200_000,
        seconds: 10,
        rebuild: false,
        nice: false,
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--entries" => options.entries = args.next().context("--entries N")?.parse()?,
            "--seconds" => options.seconds = args.next().context("--seconds S")?.parse()?,
            "--rebuild" => options.rebuild = true,
            "--nice" => options.nice = true,
            "--attack" => {
                let name = args.next().context("--attack NAME")?;
                anyhow::ensure!(
                    ATTACKS.contains(&name.as_str()),
                    "no attack {name:?}: the attacks are {ATTACKS:?}"
                );
                options.only.push(name);
            }
            other => anyhow::bail!(
                "unknown argument {other:?}; usage: hostile_load [--entries N] [--seconds S] [--rebuild] [--nice] [--attack NAME]..."
            ),
        }
    }
    Ok(options)
}

/// The 200 large events naming [`ASSET`], then the [`ANSWERED_EVENTS`] naming [`ANSWERED`].
fn large_events() -> Vec<(String, epcis::EventHash)> {
    (0..200 + ANSWERED_EVENTS)
        .map(|n| {
            let asset = if n < 200 { ASSET } else { ANSWERED };
            hashed(&json!({
                "type": "ObjectEvent",
                "eventTime": ledger::UnixMillis::from_millis(1_700_000_000_000 + n * 60_000).to_rfc3339(),
                "eventTimeZoneOffset": "+00:00",
                "epcList": [asset],
                "action": "OBSERVE",
                "bizStep": "inspecting",
                "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
                "example:note": "x".repeat(760_000),
            }))
        })
        .collect()
}

/// A connection from a loopback address of the caller's choosing (an IPv6 one to `::1`).
fn connect_from(from: IpAddr, port: u16) -> anyhow::Result<TcpStream> {
    if from == IpAddr::V4(Ipv4Addr::LOCALHOST) {
        // The attacker's address: the system picks it (no runtime to bind one).
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        return Ok(stream);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stream = runtime.block_on(async {
        let (socket, to) = match from {
            IpAddr::V4(_) => (
                tokio::net::TcpSocket::new_v4()?,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
            ),
            IpAddr::V6(_) => (
                tokio::net::TcpSocket::new_v6()?,
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ),
        };
        socket.bind((from, 0).into())?;
        socket.connect((to, port).into()).await?.into_std()
    })?;
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(stream)
}

/// A kept-alive HTTP/1.1 client from one address: reconnects when the server closes.
struct Client {
    from: IpAddr,
    port: u16,
    connection: Option<BufReader<TcpStream>>,
}

impl Client {
    /// `GET path`: the status (the body read and dropped).
    fn get(&mut self, path: &str) -> anyhow::Result<u16> {
        for _attempt in 0..2 {
            if self.connection.is_none() {
                self.connection = Some(BufReader::new(connect_from(self.from, self.port)?));
            }
            let Some(connection) = self.connection.as_mut() else {
                continue;
            };
            match exchange(connection, path) {
                Ok((status, close)) => {
                    if close {
                        self.connection = None;
                    }
                    return Ok(status);
                }
                // A kept-alive connection the server closed meanwhile: once more on a new one.
                Err(_) => self.connection = None,
            }
        }
        anyhow::bail!("GET {path} failed twice")
    }
}

/// One request on a kept-alive connection: the status and whether the server closes it.
fn exchange(connection: &mut BufReader<TcpStream>, path: &str) -> anyhow::Result<(u16, bool)> {
    // One write of the whole request (no small segments for Nagle's algorithm to hold back).
    connection
        .get_mut()
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())?;
    let mut line = String::new();
    connection.read_line(&mut line)?;
    let status: u16 = line.get(9..12).context("no status line")?.parse()?;
    let (mut length, mut chunked, mut close) = (0usize, false, false);
    loop {
        line.clear();
        connection.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').context("a header")?;
        let (name, value) = (name.to_ascii_lowercase(), value.trim().to_ascii_lowercase());
        match name.as_str() {
            "content-length" => length = value.parse()?,
            "transfer-encoding" => chunked = value.contains("chunked"),
            "connection" => close = value.contains("close"),
            _ => {}
        }
    }
    if chunked {
        loop {
            line.clear();
            connection.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)?;
            let mut chunk = vec![0; size + 2];
            connection.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
        }
    } else {
        let mut body = vec![0; length];
        connection.read_exact(&mut body)?;
    }
    Ok((status, close))
}

/// One attacking request: given the port and the request's number, its status.
type Attack = Arc<dyn Fn(u16, u64) -> anyhow::Result<u16> + Send + Sync>;

/// What one phase measured.
struct Phase {
    victims: Vec<u64>,
    victim_failures: u64,
    attacks: u64,
    refused: u64,
    peak_kib: u64,
    took: Duration,
    /// CPU seconds trace-api and PostgreSQL (every `postgres` process) spent in the phase.
    cpu: (f64, f64),
}

/// CPU seconds (user and system) `/proc/<pid>/stat` shows the process has spent; 0 for one gone.
fn cpu_seconds(pid: u32) -> f64 {
    // Clock ticks per second: 100 on every Linux this runs on (`getconf CLK_TCK`).
    const TICKS: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (in parentheses, which may hold spaces): utime is the 14th
    // field of the line, stime the 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / TICKS
}

/// CPU seconds every process named `postgres` has spent (server and backends; a backend that
/// ended in between takes its share with it, so this undercounts short connections).
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(cpu_seconds)
        .sum()
}

/// The peak resident set of `pid` (kB), then reset to the current one.
fn peak_and_reset(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .context("no VmHWM")?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()?;
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")?;
    Ok(peak)
}

/// Runs the victims for `seconds` while `attack` (if any) runs on `ATTACKERS` threads.
/// Who attacks during a phase.
enum Attacker {
    Nobody,
    /// Threads of this process.
    Threads(Attack),
    /// This program's `--attacker` mode in a process of its own, at `nice -n 19`.
    Niced(&'static str),
}

/// Runs `ATTACKERS` threads of `attack` until `stop`, counting requests and 429s.
fn attack_threads(
    attack: &Attack,
    port: u16,
    stop: &Arc<AtomicBool>,
    counts: &Arc<(AtomicU64, AtomicU64)>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..ATTACKERS)
        .map(|thread| {
            let (attack, stop, counts) = (attack.clone(), stop.clone(), counts.clone());
            std::thread::spawn(move || {
                let mut n = thread as u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(status) = attack(port, n) {
                        counts.0.fetch_add(1, Ordering::Relaxed);
                        if status == 429 {
                            counts.1.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    n += ATTACKERS as u64;
                }
            })
        })
        .collect()
}

/// Runs the victims for `seconds` while `attacker` attacks.
fn phase(port: u16, pid: u32, options: &Options, attacker: Attacker) -> anyhow::Result<Phase> {
    let seconds = options.seconds;
    peak_and_reset(pid)?;
    let cpu_before = (cpu_seconds(pid), postgres_cpu_seconds());
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let mut attackers = Vec::new();
    let mut child = None;
    match &attacker {
        Attacker::Nobody => {}
        Attacker::Threads(attack) => attackers = attack_threads(attack, port, &stop, &counts),
        Attacker::Niced(name) => {
            child = Some(
                std::process::Command::new("nice")
                    .args(["-n", "19"])
                    .arg(std::env::current_exe()?)
                    .args(["--attacker", name])
                    .args([
                        seconds.to_string(),
                        port.to_string(),
                        options.entries.to_string(),
                    ])
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .context("Failed to start the attacker (nice)")?,
            );
        }
    }
    let victims: Vec<_> = (0..VICTIMS)
        .map(|v| {
            std::thread::spawn(move || -> anyhow::Result<(Vec<u64>, u64)> {
                let mut client = Client {
                    from: Ipv4Addr::new(127, 0, 0, 2 + v).into(),
                    port,
                    connection: None,
                };
                let (mut latencies, mut failures) = (Vec::new(), 0);
                for n in 0u64.. {
                    let scheduled = start + Duration::from_secs_f64(n as f64 / VICTIM_RATE);
                    if scheduled >= end {
                        break;
                    }
                    if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let item = percent_encode(&probe((n * 7 + u64::from(v) * 251) % PROBES));
                    match client.get(&format!("/items/{item}/history")) {
                        Ok(200) => latencies.push(scheduled.elapsed().as_micros() as u64),
                        _ => failures += 1,
                    }
                }
                Ok((latencies, failures))
            })
        })
        .collect();
    let mut phase = Phase {
        victims: Vec::new(),
        victim_failures: 0,
        attacks: 0,
        refused: 0,
        peak_kib: 0,
        took: Duration::ZERO,
        cpu: (0.0, 0.0),
    };
    for victim in victims {
        let (latencies, failures) = victim
            .join()
            .map_err(|_| anyhow::anyhow!("a victim panicked"))??;
        phase.victims.extend(latencies);
        phase.victim_failures += failures;
    }
    phase.took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker
            .join()
            .map_err(|_| anyhow::anyhow!("an attacker panicked"))?;
    }
    phase.victims.sort_unstable();
    phase.attacks = counts.0.load(Ordering::Relaxed);
    phase.refused = counts.1.load(Ordering::Relaxed);
    if let Some(child) = child {
        // It attacked for `seconds` of its own: its counts are of that time.
        let output = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let mut numbers = text
            .split_whitespace()
            .filter_map(|word| word.parse::<u64>().ok());
        phase.attacks = numbers.next().context("the attacker printed no count")?;
        phase.refused = numbers.next().context("the attacker printed no count")?;
    }
    phase.peak_kib = peak_and_reset(pid)?;
    phase.cpu = (
        cpu_seconds(pid) - cpu_before.0,
        postgres_cpu_seconds() - cpu_before.1,
    );
    Ok(phase)
}

/// An attack of one kept-alive client per thread, asking for `path(n)`.
fn flood(path: impl Fn(u64) -> String + Send + Sync + 'static) -> Attack {
    flood_from(|| Ipv4Addr::LOCALHOST.into(), path)
}

/// [`flood`], each new connection from the address `source` gives (the threads of a phase are
/// its own: each starts without a connection).
fn flood_from(
    source: impl Fn() -> IpAddr + Send + Sync + 'static,
    path: impl Fn(u64) -> String + Send + Sync + 'static,
) -> Attack {
    thread_local! {
        static CLIENT: std::cell::RefCell<Option<Client>> = const { std::cell::RefCell::new(None) };
    }
    Arc::new(move |port, n| {
        CLIENT.with(|client| {
            let mut client = client.borrow_mut();
            let client = client.get_or_insert_with(|| Client {
                from: Ipv4Addr::UNSPECIFIED.into(),
                port,
                connection: None,
            });
            // A new connection (the first, or after the server closed one): from `source`.
            if client.connection.is_none() {
                client.from = source();
            }
            client.get(&path(n))
        })
    })
}

/// The /64 the `histories from a /64` attack rotates through (a unique local prefix).
const SLASH64: &str = "fd74:7467:7261:696c";
/// How many of its addresses the attack uses.
const SLASH64_ADDRESSES: u64 = 64;

/// The `n`th address of [`SLASH64`] the attack uses.
fn slash64_address(n: u64) -> IpAddr {
    let host = 1 + n % SLASH64_ADDRESSES;
    format!("{SLASH64}::{host:x}")
        .parse()
        .unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))
}

/// The attack's addresses, added to the loopback interface (`ip -6 addr add`, which needs
/// root) and removed when this is dropped.
struct Slash64;

impl Slash64 {
    fn add() -> anyhow::Result<Self> {
        let added = Slash64;
        for n in 0..SLASH64_ADDRESSES {
            let address = format!("{}/128", slash64_address(n));
            let status = std::process::Command::new("ip")
                .args(["-6", "addr", "add", &address, "dev", "lo", "nodad"])
                .stderr(std::process::Stdio::null())
                .status()
                .context("Failed to run ip")?;
            anyhow::ensure!(
                status.success(),
                "ip -6 addr add {address} dev lo failed (root?)"
            );
        }
        Ok(added)
    }
}

impl Drop for Slash64 {
    fn drop(&mut self) {
        for n in 0..SLASH64_ADDRESSES {
            let address = format!("{}/128", slash64_address(n));
            let _ = std::process::Command::new("ip")
                .args(["-6", "addr", "del", &address, "dev", "lo"])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// [`flood`], each new connection from the next address of [`SLASH64`]: a host rotating
/// through its /64, which the limits must count as one client.
fn flood_from_slash64(path: impl Fn(u64) -> String + Send + Sync + 'static) -> Attack {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    flood_from(
        || slash64_address(NEXT.fetch_add(1, Ordering::Relaxed)),
        path,
    )
}

/// A connection that sends its request's head a byte every 300 ms until the server cuts it.
fn slow_client(port: u16, _n: u64) -> anyhow::Result<u16> {
    let mut stream = connect_from(Ipv4Addr::LOCALHOST.into(), port)?;
    stream.set_read_timeout(Some(Duration::from_millis(300)))?;
    let head =
        b"GET /log/checkpoint HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaa";
    for byte in head {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        let mut buffer = [0u8; 256];
        match stream.read(&mut buffer) {
            Ok(_) => break,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    Ok(408)
}

/// The attacks, in the order they run.
const ATTACKS: [&str; 7] = [
    "probes",
    "histories",
    "histories from a /64",
    "tiles",
    "large events",
    "large answers",
    "slow clients",
];

/// The attack of that name, for a ledger of `entries` entries.
fn attack_named(name: &str, entries: u64) -> anyhow::Result<Attack> {
    let full_tiles = (entries / 256).max(1);
    Ok(match name {
        "probes" => flood(|n| {
            if n % 2 == 0 {
                "/health/ready"
            } else {
                "/metrics"
            }
            .to_owned()
        }),
        "histories" => flood(|n| format!("/items/{}/history", percent_encode(&probe(n % PROBES)))),
        "histories from a /64" => {
            flood_from_slash64(|n| format!("/items/{}/history", percent_encode(&probe(n % PROBES))))
        }
        "tiles" => flood(move |n| {
            let tile = (n / 255) % full_tiles.min(1000);
            format!("/log/tile/0/{tile:03}.p/{}", 1 + n % 255)
        }),
        "large events" => flood(|_| format!("/items/{}/history?limit=1000", percent_encode(ASSET))),
        "large answers" => {
            flood(|_| format!("/items/{}/history?limit=1000", percent_encode(ANSWERED)))
        }
        "slow clients" => Arc::new(slow_client),
        other => anyhow::bail!("no attack {other:?}"),
    })
}

/// `--attacker NAME SECONDS PORT ENTRIES`: attacks alone for so long, then prints its requests
/// and its 429s.
#[allow(clippy::print_stdout)] // read by the driver
fn attacker_mode(args: &[String]) -> anyhow::Result<()> {
    let [name, seconds, port, entries] = args else {
        anyhow::bail!("--attacker NAME SECONDS PORT ENTRIES");
    };
    let attack = attack_named(name, entries.parse()?)?;
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let threads = attack_threads(&attack, port.parse()?, &stop, &counts);
    std::thread::sleep(Duration::from_secs(seconds.parse()?));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("an attacker panicked"))?;
    }
    println!(
        "{} {}",
        counts.0.load(Ordering::Relaxed),
        counts.1.load(Ordering::Relaxed)
    );
    Ok(())
}

#[allow(clippy::print_stdout, clippy::print_stderr)] // the driver's report
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--attacker") {
        return attacker_mode(&args[1..]);
    }
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let url = runtime.block_on(ledger(&LedgerSpec {
        // Version 2: with the answered asset's events.
        name: format!("tagtrail_hostile_load_v2_{}", options.entries),
        entries: options.entries,
        probes: PROBES,
        extra: large_events(),
        rebuild: options.rebuild,
    }))?;
    // As deployed: the default limits and budgets; on every address, IPv6 and (dual-stack)
    // IPv4, for the attack from a /64.
    let (mut child, port) = start_trace_api_on(&url, &[], Ipv6Addr::UNSPECIFIED.into())?;
    let slash64 = Slash64::add();
    let pid = child.id();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&mut child, &base)?;
    let result = (|| -> anyhow::Result<()> {
        // Warm: every probe's history once, from a victim's address.
        let mut warm = Client {
            from: Ipv4Addr::new(127, 0, 0, 9).into(),
            port,
            connection: None,
        };
        for p in 0..PROBES {
            let path = format!("/items/{}/history", percent_encode(&probe(p)));
            // Within the address's limit: a 429 is waited out.
            while warm.get(&path)? == 429 {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        println!(
            "Ledger of {} entries; {VICTIMS} victims at {VICTIM_RATE:.0} requests/s each (warm histories), {ATTACKERS} attacking threads from one address ({}), {} s per phase.",
            options.entries,
            if options.nice {
                "a process of their own at nice 19"
            } else {
                "in the driver's process"
            },
            options.seconds
        );
        println!();
        println!(
            "| attack | victim requests | victim failures | victim p50 ms | victim p99 ms | victim max ms | p99 ÷ unloaded | attacker requests/s | attacker 429 | trace-api peak RSS MB | trace-api CPU s | PostgreSQL CPU s |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        let mut unloaded = None;
        let chosen = ATTACKS
            .into_iter()
            .filter(|name| options.only.is_empty() || options.only.iter().any(|o| o == name));
        for name in std::iter::once("none").chain(chosen) {
            if let ("histories from a /64", Err(error)) = (name, &slash64) {
                println!("| {name} | not run: {error:#} |");
                continue;
            }
            let attacker = match name {
                "none" => Attacker::Nobody,
                name if options.nice => Attacker::Niced(name),
                name => Attacker::Threads(attack_named(name, options.entries)?),
            };
            let measured = phase(port, pid, &options, attacker)?;
            let p99 = percentile(&measured.victims, 0.99);
            let base_p99 = *unloaded.get_or_insert(p99);
            println!(
                "| {name} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} % | {:.0} | {:.1} | {:.1} |",
                measured.victims.len(),
                measured.victim_failures,
                percentile(&measured.victims, 0.5),
                p99,
                percentile(&measured.victims, 1.0),
                if base_p99 > 0.0 { p99 / base_p99 } else { 0.0 },
                measured.attacks as f64 / measured.took.as_secs_f64(),
                if measured.attacks > 0 {
                    100.0 * measured.refused as f64 / measured.attacks as f64
                } else {
                    0.0
                },
                measured.peak_kib as f64 / 1024.0,
                measured.cpu.0,
                measured.cpu.1,
            );
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
