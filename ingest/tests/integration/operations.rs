//! What operators rely on: health endpoints, metrics, the capture discovery headers, graceful
//! shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

use capture_client::Credential;
use common::{TestApp, blocking, capture, document, receipts};
use ledger_store::testing::TestDatabase;

const HERE: &str = "urn:epc:id:sgln:0614141.00777.0";

async fn get_text(address: &str, path: &str) -> (u16, String) {
    let url = format!("{address}{path}");
    blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent.get(&url).call().unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_database_is_ready_and_an_empty_one_is_not() {
    let app = TestApp::spawn().await;
    assert_eq!(get_text(&app.address, "/health/live").await.0, 200);
    let (status, body) = get_text(&app.address, "/health/ready").await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;

    let empty = TestDatabase::create_empty().await.unwrap();
    let name = empty.name().to_owned();
    // The service role needs the group role the migrations create; the shared template has made it.
    let app = TestApp::spawn_on(empty, |_| {}).await;
    assert_eq!(get_text(&app.address, "/health/live").await.0, 200);
    let (status, body) = get_text(&app.address, "/health/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not ready"), "{body}");
    // The database's own words stay in the log.
    assert!(body.contains("the cause is in the service's log"), "{body}");
    assert!(!body.contains(&name), "{body}");
    app.stop().await;
}

/// `HEAD` answers as `GET` without a body; every answer says `nosniff`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_like_get_without_a_body_and_no_answer_may_be_sniffed() {
    use std::io::{Read, Write};
    let app = TestApp::spawn().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let raw = |request: String| {
        let address = address.clone();
        blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).unwrap();
            String::from_utf8(answer).unwrap()
        })
    };
    for path in ["/health/live", "/health/ready", "/metrics"] {
        let request = format!("HEAD {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let answer = raw(request).await;
        let (head, rest) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        assert!(
            head.to_ascii_lowercase()
                .contains("x-content-type-options: nosniff"),
            "{path}: {head}"
        );
        assert_eq!(rest, "", "{path}: HEAD has no body");
    }
    // A capture job without credentials: the same 401 as GET, without its body.
    let answer =
        raw("HEAD /capture/00000000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_owned())
            .await;
    let (head, rest) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(rest, "");
    app.stop().await;
}

/// A Prometheus server scraping the service, stopped (and its data removed) on drop.
struct Prometheus {
    child: std::process::Child,
    address: String,
    _dir: TempDir,
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts `prometheus` (Debian's package, which `scripts/services` installs) scraping
    /// `target` (host:port) every second.
    fn scraping(target: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tagtrail-prometheus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = TempDir(dir);
        let config = dir.0.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: ingest\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect(
                "prometheus (Debian package prometheus) must be installed: run scripts/services",
            );
        Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// The value of an instant query that returns one sample, once it does.
    async fn value(&self, query: &str) -> Option<String> {
        let url = format!("{}/api/v1/query", self.address);
        let query = query.to_owned();
        let body = blocking(move || {
            let mut response = ureq::get(&url).query("query", &query).call().ok()?;
            response.body_mut().read_to_string().ok()
        })
        .await?;
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = answer["data"]["result"].as_array()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str().map(str::to_owned),
            _ => None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_metrics_and_reads_what_they_say() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let reply = capture(&client, document(&[1, 2, 3, 4], HERE), false).await;
    assert_eq!(receipts(&reply).len(), 4);
    let target = app.address.trim_start_matches("http://").to_owned();
    let prometheus = Prometheus::scraping(&target);

    // What a real scraper reads back: the target is up, and the counters and gauges hold the
    // values this capture gave them (parsed from the OpenMetrics exposition).
    let expected = [
        ("up{job=\"ingest\"}", "1"),
        ("ingest_captures_total{outcome=\"accepted\"}", "1"),
        ("ingest_events_total{outcome=\"appended\"}", "4"),
        ("ingest_ledger_entries", "4"),
        ("ingest_capture_duration_seconds_count", "1"),
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for (query, value) in expected {
        loop {
            let got = prometheus.value(query).await;
            if got.as_deref() == Some(value) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "Prometheus never read {query} = {value} (last: {got:?})"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    drop(prometheus);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_captures_and_events_by_outcome_and_report_the_ledger() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    assert_eq!(
        capture(&client, document(&[1, 2, 3], HERE), false)
            .await
            .status,
        202
    );
    assert_eq!(
        capture(&client, document(&[3], HERE), false).await.status,
        202
    );
    assert_eq!(
        capture(
            &client,
            document(&[4], "urn:epc:id:sgln:0614141.00999.0"),
            false
        )
        .await
        .status,
        403
    );

    // The checkpoint signer runs every 100 ms in tests, the indexer every 100 ms when idle: wait
    // until both cover the three events.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let (status, text) = get_text(&app.address, "/metrics").await;
        assert_eq!(status, 200);
        if text.contains("ingest_checkpoint_entries 3")
            && text.contains("ingest_lookup_indexed_entries 3")
        {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of 3 entries, or lookups not covering them:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for needle in [
        "ingest_captures_total{outcome=\"accepted\"} 2",
        "ingest_captures_total{outcome=\"forbidden\"} 1",
        "ingest_events_total{outcome=\"appended\"} 3",
        "ingest_events_total{outcome=\"duplicate\"} 1",
        "ingest_capture_duration_seconds_count 3",
        "ingest_ledger_entries 3",
        "ingest_checkpoint_age_seconds ",
        "ingest_lookup_runs ",
        "ingest_db_pool_connections{state=\"in_use\"}",
        "ingest_db_pool_max_connections 16",
        "ingest_db_pool_waiting_requests",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_announces_the_capture_limits() {
    let app = TestApp::spawn_with(|config| config.limits.max_events_per_document = 321).await;
    let url = format!("{}/capture", app.address);
    let headers = blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent.options(&url).call().unwrap();
        assert_eq!(response.status().as_u16(), 204);
        let get = |name: &str| {
            response
                .headers()
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        (
            get("GS1-EPCIS-Capture-Limit"),
            get("GS1-EPCIS-Version"),
            get("GS1-Capture-Error-Behaviour"),
        )
    })
    .await;
    assert_eq!(headers.0, "321");
    assert_eq!(headers.1, "2.0.0");
    assert_eq!(headers.2, "all");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_lets_in_flight_captures_finish_and_keeps_what_it_acknowledged() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let mut sent = Vec::new();
    for round in 0..8u64 {
        let client = client.clone();
        let serials: Vec<u64> = (round * 500..round * 500 + 500).collect();
        sent.push(tokio::spawn(async move {
            capture(&client, document(&serials, HERE), false).await
        }));
    }
    // Stop while the captures are being sent and processed: once the first events are stored.
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while app.counts().await[0] == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first capture is stored");
    let db = app.stop().await;
    let admin = db.connect().await.unwrap();
    let mut acknowledged = Vec::new();
    for task in sent {
        // A capture either completes (202) or is refused before being accepted (connection
        // refused: the client panics inside its task).
        if let Ok(reply) = task.await {
            assert_eq!(reply.status, 202, "{}", reply.body);
            acknowledged.extend(receipts(&reply));
        }
    }
    // Everything acknowledged is stored at the leaf its receipt names.
    for (_, hash, leaf, _) in acknowledged {
        let row = admin
            .query_one(
                "SELECT event_hash FROM events WHERE leaf_index = $1",
                &[&(leaf as i64)],
            )
            .await
            .unwrap();
        let stored: Vec<u8> = row.get(0);
        assert_eq!(
            epcis::EventHash::from_bytes(stored.try_into().unwrap()).to_ni_uri(),
            hash
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_s_ledger_store_opens_its_connections_with_the_store_s_session_settings() {
    let db = ledger_store::testing::TestDatabase::create().await.unwrap();
    let mut config = ingest::Config::new(
        secrecy::SecretString::from(db.url().to_owned()),
        std::path::PathBuf::from("unused.key"),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    config.database.pool_size = 2;
    let store = ingest::startup::build_store(&config.database).unwrap();
    let client = store.test_client().await.unwrap();
    for (setting, value) in [
        ("plan_cache_mode", "force_custom_plan"),
        ("max_parallel_workers_per_gather", "0"),
    ] {
        let shown: String = client
            .query_one(&format!("SHOW {setting}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(shown, value, "{setting} on a store connection");
    }
    assert_eq!(
        store.pool_status().max_size,
        ledger_store::STORE_CONNECTIONS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_the_database_cannot_answer_now_is_a_503_with_retry_after_and_read_wording() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let token = app.token(&site).await;
    let client = app.client(Credential::Token(token));
    assert_eq!(
        capture(&client, document(&[1], HERE), false).await.status,
        202
    );
    let read = |client: std::sync::Arc<capture_client::CaptureClient>| {
        blocking(move || client.get("/capture").unwrap())
    };
    // The service can open no connection to its database, and loses those it has: 53300
    // (too many connections) on every attempt, which a retry after the limit is lifted overcomes.
    let database: String = app
        .admin
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    app.admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{database}\" CONNECTION LIMIT 0;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid();"
        ))
        .await
        .unwrap();
    let reply = read(client.clone()).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.retry_after.as_deref(), Some("1"));
    let detail = reply.body["detail"].as_str().unwrap_or_default().to_owned();
    assert!(
        detail.contains("retry later") && !detail.contains("acknowledged"),
        "a read is not a capture: {detail}"
    );
    let (status, body) = get_text(&app.address, "/health/ready").await;
    assert_eq!(status, 503, "{body}");
    app.admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{database}\" CONNECTION LIMIT -1"
        ))
        .await
        .unwrap();
    // A client that retries as told gets its answer once the database takes connections again.
    // A pooled connection the database closed may still answer one more 503 before the pool sees
    // it closed; every answer until then is the same retryable 503.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let reply = read(client.clone()).await;
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert_eq!(reply.retry_after.as_deref(), Some("1"));
        assert!(
            std::time::Instant::now() < deadline,
            "still 503 30 s after the limit was lifted: {}",
            reply.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holds_at_most_its_share_of_connections() {
    use std::io::{Read, Write};
    let app = TestApp::spawn_with(|config| config.http.max_connections_per_client = 1).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let (kept, refused, rest, probe) = blocking(move || {
        let connect = || std::net::TcpStream::connect(&address).unwrap();
        let ask = |stream: &mut std::net::TcpStream, path: &str| {
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n"
            )
            .unwrap();
            let mut buffer = vec![0u8; 8192];
            let read = stream.read(&mut buffer).unwrap();
            String::from_utf8_lossy(&buffer[..read]).into_owned()
        };
        // One after the other: the server's workers take connections in no fixed order.
        let mut first = connect();
        let kept = ask(&mut first, "/capture");
        let mut second = connect();
        let refused = ask(&mut second, "/capture");
        let mut rest = Vec::new();
        second.read_to_end(&mut rest).unwrap();
        // Over the cap, probes are refused too (else opening connections to send probes would
        // get around it).
        let probe = ask(&mut connect(), "/health/live");
        (kept, refused, rest, probe)
    })
    .await;
    // The first connection's request reaches the route (401: no credentials).
    assert!(kept.starts_with("HTTP/1.1 401"), "{kept}");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    let lower = refused.to_ascii_lowercase();
    assert!(lower.contains("\r\nconnection: close"), "{refused}");
    assert!(lower.contains("\r\nretry-after: 1"), "{refused}");
    assert!(
        refused.contains("already holds 1 open connections"),
        "{refused}"
    );
    assert!(rest.is_empty(), "the refused connection was closed");
    assert!(probe.starts_with("HTTP/1.1 429"), "{probe}");
    app.stop().await;
}

/// One raw HTTP/1.1 request from the loopback address `from`, on a connection of its own: the
/// head of the answer.
async fn ask_from(from: &str, address: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let target = address.trim_start_matches("http://").parse().unwrap();
    let mut stream = socket.connect(target).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Every public route is rate limited per client address, before anything else is done with the
/// request; another address is not affected; the operator listener, when configured, serves the
/// probes and the metrics without a limit, and the public listener does not serve them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_address_is_rate_limited_and_operator_routes_are_apart() {
    let app = TestApp::spawn_with(|config| {
        config.limits.requests_per_second = 1;
        config.limits.burst = 3;
        // A 429 waits this long before it is sent (by default a second, in which the bucket
        // of one request a second would refill).
        config.limits.rate_limited_delay = std::time::Duration::from_millis(10);
        config.http.operator_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let get = "GET /capture HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let post = "POST /capture HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    let mut answers = Vec::new();
    for request in [get, post, get, post, get] {
        answers.push(ask_from("127.0.0.1", &app.address, request).await);
    }
    // The burst of 3 reaches the routes (401: no credentials); then 429, GET and POST alike.
    for answer in &answers[..3] {
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.contains("SecurityException"), "{answer}");
    }
    for answer in &answers[3..] {
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("\r\nretry-after: 1"),
            "{answer}"
        );
        assert!(answer.contains("more than 1 requests a second"), "{answer}");
    }
    // Another address has a bucket of its own.
    let other = ask_from("127.0.0.2", &app.address, get).await;
    assert!(other.starts_with("HTTP/1.1 401"), "{other}");
    // The probes and the metrics: on the operator's listener only, and not limited there.
    let operator = app.operator.clone().unwrap();
    for path in ["/health/live", "/health/ready", "/metrics"] {
        let (status, body) = get_text(&app.address, path).await;
        assert_eq!(status, 404, "{path} on the public listener: {body}");
        assert!(body.contains("operator's listener"), "{body}");
        for _ in 0..5 {
            let (status, body) = get_text(&operator, path).await;
            assert_eq!(status, 200, "{path} on the operator listener: {body}");
        }
    }
    let (status, body) = get_text(&operator, "/capture").await;
    assert_eq!(status, 404, "{body}");
    let (_, metrics) = get_text(&operator, "/metrics").await;
    let refused: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("ingest_rate_limited_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(refused >= 2, "{metrics}");
    app.stop().await;
}
