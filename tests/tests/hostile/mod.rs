//! The hostile-client suite: the attacks an adversarial test made on the release binaries from
//! one anonymous client on loopback (the hardening issue), replayed against the built `ingest` and
//! `trace-api` processes, each bounded in time and volume. Every test asserts the defence (the
//! answers, the service's own counts, the resident set against the configured budget), never a
//! timing: how fast the services stay under each attack is measured by the `hostile_load` driver
//! and recorded in BENCHMARKS.md.
//!
//! - Memory: events of 0.76 MB naming one item, asked for with `?limit=1` and by 16 clients at
//!   once, leave trace-api's peak resident set within its configured budgets.
//! - The tile cache: every partial width of a full tile, in both spellings of its path, adds
//!   nothing the cache keeps per width.
//! - Operator routes: a flood of readiness probes and scrapes is rate limited like any route (or
//!   kept on the operator's listener), asks the database about once a second, and another
//!   client is served meanwhile; readiness never quotes the database.
//! - Connections: one address holds at most its share; a client that sends its request slowly is
//!   cut off.
//! - ingest: every public route is rate limited per address before anything else is done with a
//!   request; an oversized event is refused and stores nothing.
//! - HTTP manners: `HEAD` on every `GET` resource, `nosniff` on every answer, of both services.
//! - Sealed data (`sealed.rs`): consumer data sealed before capture never appears in clear in
//!   any public answer, log line or metric; only its recipients open it; erased, it opens for no
//!   one, and the event still verifies.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use std::net::Ipv4Addr;

use ledger_store::testing::TestDatabase;
use serde_json::{Value, json};

mod sealed;

use crate::support::services::{
    Process, TempDir, binary, free_port, http_status, log_and_site, runtime, tagtrail, wait_for,
};

const LOCATION: &str = "urn:epc:id:sgln:0614141.00888.0";
/// The item the large events name (a returnable asset, as in the attack).
const ASSET: &str = "urn:epc:id:grai:0614141.12345.400";

/// A database with a site and its token, ingest serving it, and trace-api when started.
struct Deployment {
    db: TestDatabase,
    runtime: tokio::runtime::Runtime,
    _dir: TempDir,
    ingest: Process,
    ingest_port: u16,
    trace_url: String,
    /// trace-api's access log settings (`TAGTRAIL_TRACE_ACCESS_LOG_*`): a login role in
    /// `tagtrail_access`, a key of its own.
    access_log: Vec<(&'static str, String)>,
    token: String,
    /// The log's checkpoint verifier key file.
    log_key: String,
}

impl Deployment {
    /// A new database, its registry (one site owning `LOCATION`, a token) and ingest, ready;
    /// `ingest_env` sets ingest's settings (`TAGTRAIL_INGEST_*`).
    fn start(name: &str, ingest_env: &[(&str, &str)]) -> Deployment {
        let runtime = runtime();
        let db = runtime.block_on(TestDatabase::create()).unwrap();
        let ingest_url = runtime
            .block_on(db.login_role(&format!("tagtrail_{name}_ingest"), "tagtrail_ingest"))
            .unwrap();
        let trace_url = runtime
            .block_on(db.login_role(&format!("tagtrail_{name}_trace"), "tagtrail_reader"))
            .unwrap();
        let access_url = runtime
            .block_on(db.login_role(&format!("tagtrail_{name}_access"), "tagtrail_access"))
            .unwrap();
        let dir = TempDir::new(&format!("tagtrail-hostile-{name}"));
        let database = db.url().to_owned();
        let access_key = dir.path("access.key");
        tagtrail(&[
            "keygen",
            "--name",
            "hostile.test/access",
            "--private-key",
            &access_key,
        ]);
        let access_log = vec![
            ("TAGTRAIL_TRACE_ACCESS_LOG_URL", access_url),
            ("TAGTRAIL_TRACE_ACCESS_LOG_SIGNING_KEY", access_key),
            (
                "TAGTRAIL_TRACE_ACCESS_LOG_ORIGIN",
                "hostile.test/access".to_owned(),
            ),
        ];
        let checkpoint_key = dir.path("checkpoint.key");
        log_and_site(
            &database,
            &checkpoint_key,
            "hostile.test/log",
            ("hostile-site", "Hostile test site"),
            LOCATION,
        );
        let token = String::from_utf8(
            tagtrail(&[
                "token",
                "create",
                "--site",
                "hostile-site",
                "--database-url",
                &database,
            ])
            .stdout,
        )
        .unwrap()
        .trim()
        .to_owned();
        let ingest_port = free_port();
        let mut command = Command::new(binary("ingest"));
        command
            .args(["--database-url", &ingest_url])
            .args(["--listen", &format!("127.0.0.1:{ingest_port}")])
            .args(["--checkpoint-key", &checkpoint_key])
            .env("TAGTRAIL_INGEST_LEDGER_CHECKPOINT_INTERVAL", "100ms")
            .env("RUST_LOG", "warn");
        for (key, value) in ingest_env {
            command.env(key, value);
        }
        let ingest = Process::spawn(&mut command);
        wait_for("ingest to be ready", Duration::from_secs(30), || {
            http_status(ingest_port, "/health/ready") == Some(200)
        });
        Deployment {
            db,
            runtime,
            _dir: dir,
            ingest,
            ingest_port,
            trace_url,
            access_log,
            token,
            log_key: format!("{checkpoint_key}.pub"),
        }
    }

    /// Captures `events` in one document with the site's token: the answer.
    fn capture(&self, events: Vec<Value>) -> Answer {
        let document = json!({
            "@context": [
                "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                {"example": "https://example.com/epcis/"}
            ],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00Z",
            "epcisBody": {"eventList": events}
        });
        request(
            self.ingest_port,
            "POST",
            "/capture",
            &[
                ("Authorization", &format!("Bearer {}", self.token)),
                ("Content-Type", "application/json"),
            ],
            &serde_json::to_vec(&document).unwrap(),
        )
    }

    /// The log's size once the newest checkpoint covers `size` entries.
    fn wait_for_checkpoint(&self, size: i64) {
        wait_for(
            "a checkpoint of the captures",
            Duration::from_secs(60),
            || self.sql_number("SELECT coalesce(max(tree_size), 0) FROM checkpoints") >= size,
        );
    }

    fn sql_number(&self, sql: &str) -> i64 {
        self.runtime.block_on(async {
            let client = self.db.connect().await.unwrap();
            client.query_one(sql, &[]).await.unwrap().get(0)
        })
    }

    /// trace-api on the deployment's database with `env` (`TAGTRAIL_TRACE_*`), ready.
    fn trace_api(&self, env: &[(&str, &str)]) -> TraceApi {
        let port = free_port();
        let mut command = Command::new(binary("trace-api"));
        command
            .args(["--database-url", &self.trace_url])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("TAGTRAIL_TRACE_AUDIT_INTERVAL", "0s")
            .env("RUST_LOG", "warn")
            .envs(self.access_log.iter().map(|(key, value)| (key, value)));
        for (key, value) in env {
            command.env(key, value);
        }
        let process = Process::spawn(&mut command);
        let operator = env
            .iter()
            .find(|(key, _)| *key == "TAGTRAIL_TRACE_HTTP_OPERATOR_LISTEN")
            .map(|(_, address)| address.rsplit(':').next().unwrap().parse().unwrap());
        let probe = operator.unwrap_or(port);
        wait_for("trace-api to be ready", Duration::from_secs(30), || {
            http_status(probe, "/health/ready") == Some(200)
        });
        TraceApi {
            process,
            port,
            operator,
        }
    }
}

struct TraceApi {
    process: Process,
    port: u16,
    operator: Option<u16>,
}

impl TraceApi {
    /// Its metrics, as scraped (on the operator's listener when it has one).
    fn metrics_text(&self) -> String {
        let answer = request(
            self.operator.unwrap_or(self.port),
            "GET",
            "/metrics",
            &[],
            b"",
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.text()
    }

    /// A counter or gauge of its metrics (on the operator's listener when it has one).
    fn metric(&self, line_start: &str) -> f64 {
        self.metrics_text()
            .lines()
            .find_map(|line| line.strip_prefix(line_start))
            .unwrap_or_else(|| panic!("no {line_start} in the metrics"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Its resident set now and at its peak (kB, from /proc).
    fn memory(&self) -> (u64, u64) {
        resident(self.process.id())
    }

    /// Makes the peak resident set start again from the current one (`clear_refs` 5).
    fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.process.id()), "5").unwrap();
    }
}

/// `VmRSS` and `VmHWM` (the peak) of a process, in kB.
fn resident(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap()
            .trim()
            .trim_end_matches(" kB")
            .trim()
            .parse()
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// An answer: its status, headers (names lower case) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 request on a connection of its own (`Connection: close`), read to the end.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    exchange(stream, method, path, headers, body)
}

/// A connection to `port` from the loopback address `from` (each address is a client of its own).
fn connect_from(from: Ipv4Addr, port: u16) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((from, 0).into()).unwrap();
        socket
            .connect((Ipv4Addr::LOCALHOST, port).into())
            .await
            .unwrap()
            .into_std()
            .unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
}

/// As [`request`], from the loopback address `from`.
fn request_from(from: Ipv4Addr, port: u16, method: &str, path: &str) -> Answer {
    exchange(connect_from(from, port), method, path, &[], b"")
}

fn exchange(
    mut stream: TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_answer(&raw, method == "HEAD")
}

fn parse_answer(raw: &[u8], head_only: bool) -> Answer {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer head: {}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// The body of a chunked transfer encoding.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&rest[..end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        rest = &rest[end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// An ObjectEvent at `LOCATION` naming `epc`, `minute` minutes into 2026, with `padding` bytes of
/// an extension field.
fn event(epc: &str, minute: u32, action: &str, step: &str, padding: usize) -> Value {
    let mut event = json!({
        "type": "ObjectEvent",
        "eventTime": format!("2026-01-01T{:02}:{:02}:00Z", minute / 60, minute % 60),
        "eventTimeZoneOffset": "+00:00",
        "epcList": [epc],
        "action": action,
        "bizStep": step,
        "readPoint": {"id": LOCATION},
        "bizLocation": {"id": LOCATION},
    });
    if padding > 0 {
        event["example:note"] = json!("x".repeat(padding));
    }
    event
}

/// Runs `requests` from `clients` threads at once, each on connections of its own: the statuses.
fn concurrently(clients: usize, requests: usize, ask: impl Fn() -> u16 + Sync) -> Vec<u16> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| scope.spawn(|| (0..requests).map(|_| ask()).collect::<Vec<u16>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    })
}

/// The attack: 200 events of 0.76 MB naming one returnable asset took trace-api from 110 MB to
/// 847 MB with one `?limit=1` history request, and to 3.44 GB with 16 concurrent `?limit=1000`
/// ones. Here (bounded: 48 such events) the answers are refused before the memory is spent, and
/// the peak resident set stays within what the settings allow: the shared budget of event text
/// (24 MiB) a few times over for parsing, the entry cache's 64 MiB, and the tile cache's 16 MiB.
#[test]
fn large_events_never_take_trace_api_past_its_memory_budget() {
    const EVENTS: usize = 48;
    const PADDING: usize = 760_000;
    let deployment = Deployment::start("memory", &[]);
    let answer = deployment.capture(vec![event(ASSET, 0, "ADD", "commissioning", 0)]);
    assert_eq!(answer.status, 202, "{}", answer.text());
    for batch in 0..EVENTS / 4 {
        let events = (0..4)
            .map(|n| {
                let minute = u32::try_from(1 + batch * 4 + n).unwrap();
                event(ASSET, minute, "OBSERVE", "inspecting", PADDING)
            })
            .collect();
        let answer = deployment.capture(events);
        assert_eq!(answer.status, 202, "{}", answer.text());
    }
    let small = "urn:epc:id:sgtin:0614141.812345.1";
    let answer = deployment.capture(vec![event(small, 0, "ADD", "commissioning", 0)]);
    assert_eq!(answer.status, 202, "{}", answer.text());
    deployment.wait_for_checkpoint(i64::try_from(EVENTS).unwrap() + 2);

    let trace = deployment.trace_api(&[
        ("TAGTRAIL_TRACE_LIMITS_MAX_ANSWER_BYTES", "8388608"),
        ("TAGTRAIL_TRACE_LIMITS_MAX_INFLIGHT_BYTES", "25165824"),
        ("TAGTRAIL_TRACE_LIMITS_MAX_EVENT_BYTES", "1048576"),
        ("TAGTRAIL_TRACE_LIMITS_REQUESTS_PER_SECOND", "100000"),
        ("TAGTRAIL_TRACE_LIMITS_BURST", "100000"),
        ("TAGTRAIL_TRACE_LEDGER_TILE_CACHE_MIB", "16"),
        (
            "TAGTRAIL_TRACE_HTTP_OPERATOR_LISTEN",
            &format!("127.0.0.1:{}", free_port()),
        ),
    ]);
    // Warm: a small item's history and bundle (the caches and the allocator's arenas in use).
    for path in [
        format!("/items/{small}/history"),
        format!("/items/{small}/bundle"),
    ] {
        let answer = request(trace.port, "GET", &path, &[], b"");
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
    }
    let (baseline, _) = trace.memory();
    trace.reset_peak();

    // One `?limit=1` history: refused, not built.
    let history = format!("/items/{ASSET}/history?limit=1");
    let answer = request(trace.port, "GET", &history, &[], b"");
    assert_eq!(answer.status, 422, "{}", answer.text());
    assert_eq!(
        answer.json()["type"],
        "https://tagtrail.dev/problems/too-much"
    );
    // 16 clients at once, three times each, histories and bundles.
    let statuses = concurrently(16, 3, || {
        request(
            trace.port,
            "GET",
            &format!("/items/{ASSET}/history?limit=1000"),
            &[],
            b"",
        )
        .status
    });
    let bundles = concurrently(16, 1, || {
        request(
            trace.port,
            "GET",
            &format!("/items/{ASSET}/bundle"),
            &[],
            b"",
        )
        .status
    });
    for status in statuses.iter().chain(&bundles) {
        // 422: over the answer's budget; 503: the shared budget stayed spent; 429: the address
        // already has `limits.max_answers_per_client` answers loading.
        assert!(
            [422, 503, 429].contains(status),
            "an answer over the budget was served or failed otherwise: {status}"
        );
    }
    let (_, peak) = trace.memory();
    let budget_kib = 3 * 24 * 1024 + 64 * 1024 + 16 * 1024;
    assert!(
        peak.saturating_sub(baseline) <= budget_kib,
        "the peak resident set grew by {} kB from {baseline} kB (allowed: {budget_kib} kB)",
        peak.saturating_sub(baseline)
    );
    // Everything was given back, and the service still answers another address (the attacker's
    // own waits until its byte rate has paid back what its refused answers loaded).
    assert_eq!(trace.metric("trace_answer_bytes_in_flight "), 0.0);
    let answer = request_from(
        Ipv4Addr::new(127, 0, 0, 9),
        trace.port,
        "GET",
        &format!("/items/{small}/history"),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    println!(
        "hostile memory: baseline {baseline} kB, peak {peak} kB after {} refused answers",
        statuses.len() + bundles.len() + 1
    );
}

/// The attack: a history that is answered, but loads a lot (here 800 kB of events), asked for
/// again and again from one address. Each answer is charged to its client: once its answers
/// have loaded more than `limits.max_answer_bytes` beyond what its byte rate has paid back, it is
/// answered `429 answer-bytes-spent` (with the seconds to wait), while another address asking
/// for the same history is answered.
#[test]
fn a_client_asking_again_and_again_for_a_large_history_waits_for_its_byte_rate() {
    const EVENTS: usize = 8;
    let deployment = Deployment::start("answers", &[]);
    let item = "urn:epc:id:grai:0614141.12345.401";
    let events = (0..EVENTS)
        .map(|n| {
            event(
                item,
                u32::try_from(n).unwrap(),
                "OBSERVE",
                "inspecting",
                100_000,
            )
        })
        .collect();
    let answer = deployment.capture(events);
    assert_eq!(answer.status, 202, "{}", answer.text());
    deployment.wait_for_checkpoint(i64::try_from(EVENTS).unwrap());
    let trace = deployment.trace_api(&[
        // 1 MiB per answer and at once per client, 1 KiB per second sustained.
        ("TAGTRAIL_TRACE_LIMITS_MAX_ANSWER_BYTES", "1048576"),
        ("TAGTRAIL_TRACE_LIMITS_ANSWER_BYTES_PER_SECOND", "1024"),
        ("TAGTRAIL_TRACE_LIMITS_RATE_LIMITED_DELAY", "0s"),
    ]);
    let history = format!("/items/{item}/history");
    let (attacker, other) = (Ipv4Addr::new(127, 0, 0, 7), Ipv4Addr::new(127, 0, 0, 8));
    // Two answers fit in the client's first 1 MiB (the second into debt).
    for _ in 0..2 {
        let answer = request_from(attacker, trace.port, "GET", &history);
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["total"], EVENTS);
    }
    let refused = request_from(attacker, trace.port, "GET", &history);
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(
        refused.json()["type"],
        "https://tagtrail.dev/problems/answer-bytes-spent"
    );
    // About 600 kB of debt at 1 KiB/s: minutes, not the one second of a request over its rate.
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((300..=900).contains(&retry), "Retry-After: {retry}");
    let bundle = request_from(
        attacker,
        trace.port,
        "GET",
        &format!("/items/{item}/bundle"),
    );
    assert_eq!(
        bundle.status,
        429,
        "bundles load events too: {}",
        bundle.text()
    );
    // Another address is answered, and routes that load no events still answer the first.
    let answer = request_from(other, trace.port, "GET", &history);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let checkpoint = request_from(attacker, trace.port, "GET", "/log/checkpoint");
    assert_eq!(checkpoint.status, 200, "{}", checkpoint.text());
}

/// A log of `count` small events (one document), its checkpoint signed.
fn small_log(deployment: &Deployment, count: u32) {
    let events = (0..count)
        .map(|n| {
            event(
                &format!("urn:epc:id:sgtin:0614141.812345.{n}"),
                n % 600,
                "ADD",
                "commissioning",
                0,
            )
        })
        .collect();
    let answer = deployment.capture(events);
    assert_eq!(answer.status, 202, "{}", answer.text());
    deployment.wait_for_checkpoint(i64::from(count));
}

/// The attack: 129,795 requests for partial widths of full tiles in 30 s took trace-api from 35 MB
/// to 584 MB, never released (each width was cached apart), and `%2F` gave every tile a second
/// spelling. Here every partial width of the full tiles, in both spellings, four times over: the
/// cache keeps one tile per position.
#[test]
fn partial_widths_and_second_spellings_of_tiles_do_not_multiply_the_tile_cache() {
    let deployment = Deployment::start("tiles", &[]);
    small_log(&deployment, 600);
    let trace = deployment.trace_api(&[
        ("TAGTRAIL_TRACE_LIMITS_REQUESTS_PER_SECOND", "100000"),
        ("TAGTRAIL_TRACE_LIMITS_BURST", "100000"),
        (
            "TAGTRAIL_TRACE_HTTP_OPERATOR_LISTEN",
            &format!("127.0.0.1:{}", free_port()),
        ),
    ]);
    let mut statuses = std::collections::BTreeMap::new();
    for _round in 0..4 {
        for tile in ["000", "001"] {
            for width in 1..=255 {
                for path in [
                    format!("/log/tile/0/{tile}.p/{width}"),
                    format!("/log/tile/0%2F{tile}.p%2F{width}"),
                ] {
                    let answer = request(trace.port, "GET", &path, &[], b"");
                    assert_eq!(answer.status, 200, "{path}: {}", answer.text());
                    assert_eq!(answer.body.len(), 32 * width, "{path}");
                    *statuses.entry(answer.status).or_insert(0) += 1;
                }
            }
        }
    }
    assert_eq!(statuses.get(&200), Some(&4080));
    // A 600-entry log has three tiles at level 0 and one at level 1: nothing more is kept.
    let kept = trace.metric("trace_cache_entries{cache=\"tiles\"} ");
    assert!((1.0..=4.0).contains(&kept), "{kept} tiles kept");
}

/// The attack: 9 to 10 thousand requests a second of `/health/ready` and `/metrics` from one
/// address got no `429`, held the database pool at 16 of 16 with up to 384 waiting, and slowed
/// every other client; `/health/ready` quoted the database's own error. Here (bounded: 480
/// probes and scrapes from one address) the flood is limited like any route (each 429 answered
/// a second late), readiness asks the database about once a second, another address is served
/// throughout, and a readiness answer never names the database.
#[test]
fn a_flood_of_probes_and_scrapes_costs_the_flooder_not_the_others() {
    let deployment = Deployment::start("probes", &[]);
    small_log(&deployment, 1);
    let trace = deployment.trace_api(&[]);
    let other = Ipv4Addr::new(127, 0, 0, 2);
    let checks = |trace: &TraceApi| -> f64 {
        request_from(other, trace.port, "GET", "/metrics")
            .text()
            .lines()
            .find_map(|line| line.strip_prefix("trace_readiness_checks_total "))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = checks(&trace);
    let started = Instant::now();
    let item = "/items/urn:epc:id:sgtin:0614141.812345.0/history";
    let (flood, served) = std::thread::scope(|scope| {
        let flood = scope.spawn(|| {
            let sent = std::sync::atomic::AtomicUsize::new(0);
            concurrently(8, 60, || {
                let n = sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = if n.is_multiple_of(2) {
                    "/health/ready"
                } else {
                    "/metrics"
                };
                request(trace.port, "GET", path, &[], b"").status
            })
        });
        let served: Vec<u16> = (0..20)
            .map(|_| request_from(other, trace.port, "GET", item).status)
            .collect();
        (flood.join().unwrap(), served)
    });
    let seconds = started.elapsed().as_secs_f64();
    let limited = flood.iter().filter(|&&status| status == 429).count();
    let answered = flood.iter().filter(|&&status| status == 200).count();
    assert!(flood.iter().all(|&status| status == 200 || status == 429));
    // The default limits: a burst of 200, then 50 a second; every 429 waits a second (the
    // flood gets about one per connection per second, whatever it sends).
    assert!(limited >= 1, "none of 480 probes and scrapes was limited");
    assert!(
        answered as f64 <= 200.0 + 50.0 * seconds.ceil() + 8.0,
        "{answered} probes and scrapes answered in {seconds:.1} s"
    );
    assert!(
        seconds >= 1.0,
        "the refused probes were answered at once ({seconds:.2} s for 480)"
    );
    assert!(
        served.iter().all(|&status| status == 200),
        "another address was not served: {served:?}"
    );
    let asked = checks(&trace) - before;
    assert!(
        asked <= seconds.ceil() + 2.0,
        "{asked} database checks for the flood in {seconds:.1} s"
    );

    // Readiness on a database that does not exist: 503, without the database's words.
    let missing = format!("tagtrail_hostile_missing_{}", std::process::id());
    let url = deployment
        .trace_url
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/{missing}"))
        .unwrap();
    let port = free_port();
    let _lost = Process::spawn(
        Command::new(binary("trace-api"))
            .args(["--database-url", &url])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("TAGTRAIL_TRACE_AUDIT_INTERVAL", "0s")
            .env("RUST_LOG", "error"),
    );
    let mut answer = None;
    wait_for(
        "trace-api to answer its probe",
        Duration::from_secs(30),
        || {
            let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            answer = Some(exchange(stream, "GET", "/health/ready", &[], b""));
            true
        },
    );
    let answer = answer.unwrap();
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert!(!answer.text().contains(&missing), "{}", answer.text());
    assert!(answer.text().contains("service's log"), "{}", answer.text());
}

/// One address holds at most `http.max_connections_per_client` open connections (another
/// address is not affected), and a client that sends its request's head slowly is cut off.
#[test]
fn one_address_holds_its_share_of_connections_and_slow_clients_are_cut() {
    let deployment = Deployment::start("connections", &[]);
    small_log(&deployment, 1);
    let trace = deployment.trace_api(&[("TAGTRAIL_TRACE_HTTP_MAX_CONNECTIONS_PER_CLIENT", "4")]);
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", trace.port)).unwrap())
        .collect();
    // The server takes connections in no fixed order: until it has taken the four held ones,
    // a fifth may still get in; then it is refused and closed.
    let mut refused = None;
    wait_for(
        "a connection over the cap to be refused",
        Duration::from_secs(10),
        || {
            let answer = request(trace.port, "GET", "/log/checkpoint", &[], b"");
            if answer.status == 429 {
                refused = Some(answer);
            }
            refused.is_some()
        },
    );
    let refused = refused.unwrap();
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(
        refused.text().contains("too-many-connections"),
        "{}",
        refused.text()
    );
    let other = request_from(
        Ipv4Addr::new(127, 0, 0, 2),
        trace.port,
        "GET",
        "/log/checkpoint",
    );
    assert_eq!(other.status, 200, "{}", other.text());
    drop(held);

    // A client sends a byte of its request's head every 300 ms: cut off (5 s for the whole head)
    // long before its 60 bytes are sent.
    let mut slow = TcpStream::connect(("127.0.0.1", trace.port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let head = b"GET /log/checkpoint HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaa";
    let mut cut = false;
    for byte in head {
        if slow.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        let mut buffer = [0u8; 512];
        match slow.read(&mut buffer) {
            // Closed, or an answer (408) before the request was complete: cut.
            Ok(_) => {
                cut = true;
                break;
            }
            Err(error)
                if error.kind() == std::io::ErrorKind::WouldBlock
                    || error.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    assert!(cut, "a client sending its head for 18 s was never cut off");
}

/// ingest: every request is rate limited per address before anything else is done with it, and
/// an event over `limits.max_event_bytes` is refused and stores nothing.
#[test]
fn ingest_limits_each_address_and_refuses_an_oversized_event_storing_nothing() {
    let deployment = Deployment::start(
        "ingest",
        &[
            ("TAGTRAIL_INGEST_LIMITS_REQUESTS_PER_SECOND", "2"),
            ("TAGTRAIL_INGEST_LIMITS_BURST", "10"),
            ("TAGTRAIL_INGEST_LIMITS_RATE_LIMITED_DELAY", "100ms"),
        ],
    );
    let other = Ipv4Addr::new(127, 0, 0, 2);
    let statuses: Vec<u16> = (0..40)
        .map(|_| request(deployment.ingest_port, "GET", "/capture", &[], b"").status)
        .collect();
    let limited = statuses.iter().filter(|&&status| status == 429).count();
    assert!(
        limited >= 20,
        "{limited} of 40 requests limited: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|&status| status == 401 || status == 429)
    );
    let answer = request_from(other, deployment.ingest_port, "GET", "/capture");
    assert_eq!(answer.status, 401, "{}", answer.text());

    let entries = deployment.sql_number("SELECT count(*) FROM events");
    let oversized = event(ASSET, 0, "OBSERVE", "inspecting", 1_200_000);
    let document = serde_json::to_vec(&json!({
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "https://example.com/epcis/"}
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [oversized]}
    }))
    .unwrap();
    let stream = connect_from(Ipv4Addr::new(127, 0, 0, 3), deployment.ingest_port);
    let answer = exchange(
        stream,
        "POST",
        "/capture",
        &[
            ("Authorization", &format!("Bearer {}", deployment.token)),
            ("Content-Type", "application/json"),
        ],
        &document,
    );
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert!(answer.text().contains("maxEventBytes"), "{}", answer.text());
    assert_eq!(
        deployment.sql_number("SELECT count(*) FROM events"),
        entries
    );
    assert_eq!(deployment.ingest.logged("panicked"), 0);
}

/// `HEAD` answers on every `GET` resource as `GET` does, without a body; every answer of both
/// services carries `X-Content-Type-Options: nosniff`.
#[test]
fn every_get_resource_answers_head_and_no_answer_may_be_sniffed() {
    let deployment = Deployment::start("manners", &[]);
    small_log(&deployment, 3);
    let trace = deployment.trace_api(&[]);
    let hash: String = deployment.runtime.block_on(async {
        let client = deployment.db.connect().await.unwrap();
        client
            .query_one(
                "SELECT encode(event_hash, 'hex') FROM events WHERE leaf_index = 0",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    });
    let item = "urn:epc:id:sgtin:0614141.812345.0";
    let trace_paths = [
        "/log/checkpoint".to_owned(),
        "/log/tile/0/000.p/3".to_owned(),
        format!("/items/{item}/history"),
        format!("/items/{item}/bundle"),
        format!("/events/{hash}/bundle"),
        format!("/events/{hash}/proof"),
        format!("/sealed/{hash}/{hash}"),
        "/01/80614141123458/21/0".to_owned(),
        "/01/80614141123458/21/0?linkType=linkset".to_owned(),
        "/00/106141412345678908".to_owned(),
        "/.well-known/gs1resolver".to_owned(),
        "/openapi.json".to_owned(),
        "/health/live".to_owned(),
        "/health/ready".to_owned(),
        "/metrics".to_owned(),
        "/no/such/resource".to_owned(),
    ];
    let ingest_paths = [
        "/capture",
        "/capture/0123456789abcdef0123456789abcdef",
        "/health/live",
        "/health/ready",
        "/metrics",
    ];
    for (port, path) in trace_paths
        .iter()
        .map(|path| (trace.port, path.as_str()))
        .chain(
            ingest_paths
                .iter()
                .map(|path| (deployment.ingest_port, *path)),
        )
    {
        let get = request(port, "GET", path, &[], b"");
        let head = request(port, "HEAD", path, &[], b"");
        assert_ne!(get.status, 405, "{path}");
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        for answer in [&get, &head] {
            assert_eq!(
                answer.header("x-content-type-options"),
                Some("nosniff"),
                "{path}"
            );
        }
    }
    let refused = request(
        deployment.ingest_port,
        "POST",
        "/capture",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("x-content-type-options"), Some("nosniff"));
}
