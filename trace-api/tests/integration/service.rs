//! The service as an operator and a client see it: problems for what is wrong, rate limits,
//! health, metrics, the OpenAPI document, and a database role that can only read.

use crate::common::{Pipeline, header, object};

const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_problems_and_clients_are_rate_limited() {
    let pipeline = Pipeline::start(|config| {
        config.limits.requests_per_second = 1;
        config.limits.burst = 3;
        config.http.operator_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;
    // The capture's wait read /log/checkpoint: let the bucket refill (1 per second) first.
    let mut status = 429;
    for _ in 0..100 {
        let (code, headers, body) = pipeline.get_raw("/no/such/route").await;
        status = code;
        if code == 404 {
            assert_eq!(
                header(&headers, "content-type"),
                Some("application/problem+json")
            );
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["status"], 404);
            assert!(body["type"].as_str().unwrap().ends_with("/not-found"));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404);
    // The burst runs out: 429 with Retry-After, counted in the metrics; probes on the operator's
    // listener are not limited.
    let mut limited = None;
    for _ in 0..10 {
        let (code, headers, _) = pipeline.get_raw("/log/checkpoint").await;
        if code == 429 {
            limited = Some(header(&headers, "retry-after").map(str::to_owned));
            break;
        }
    }
    let retry_after = limited.expect("no 429 within 10 requests of a burst of 3");
    assert_eq!(retry_after.as_deref(), Some("1"));
    for _ in 0..10 {
        let (status, body) = pipeline.get_operator("/health/live").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = pipeline.get_operator("/health/ready").await;
    assert_eq!(status, 200, "{body}");
    let (status, metrics) = pipeline.get_operator("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("trace_rate_limited_total"), "{metrics}");
    assert!(
        metrics.contains(r#"trace_requests_total{route="/log/checkpoint",status="429"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("trace_checkpoint_entries 1"), "{metrics}");
    // The pool's limit (the default `[database] pool_size`) and its waiters, read at the scrape.
    assert!(
        metrics.contains("trace_db_pool_max_connections 16"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trace_db_pool_waiting_requests 0"),
        "{metrics}"
    );
    pipeline.stop().await;
}

/// With an operator listener (`http.operator_listen`), the probes and the metrics are served there
/// only, and it serves nothing else; without one they are public routes, limited like the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_routes_are_apart_on_their_own_listener_or_limited_like_the_rest() {
    let pipeline = Pipeline::start(|config| {
        config.http.operator_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    for path in ["/health/live", "/health/ready", "/metrics"] {
        let (status, headers, body) = pipeline.get_raw(path).await;
        assert_eq!(status, 404, "{path} on the public listener");
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/problem+json")
        );
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("operator's listener"),
            "{body}"
        );
        let (status, text) = pipeline.get_operator(path).await;
        assert!(status == 200 || path == "/health/ready", "{path}: {text}");
    }
    for path in ["/log/checkpoint", "/openapi.json", "/items/x/history"] {
        let (status, text) = pipeline.get_operator(path).await;
        assert_eq!(status, 404, "{path} on the operator listener: {text}");
        assert!(text.contains("health probes and metrics only"), "{text}");
    }
    let (status, _) = pipeline.get("/openapi.json").await;
    assert_eq!(status, 200);
    pipeline.stop().await;

    // Without one: a flood of probes costs the flooder its own budget.
    let pipeline = Pipeline::start(|config| {
        config.limits.requests_per_second = 1;
        config.limits.burst = 3;
    })
    .await;
    let mut refused = None;
    for n in 0..10 {
        let (status, headers, _) = pipeline.get_raw("/health/live").await;
        if status == 429 {
            refused = Some((n, header(&headers, "retry-after").map(str::to_owned)));
            break;
        }
        assert_eq!(status, 200);
    }
    let (n, retry_after) = refused.expect("probes beyond the burst are limited");
    assert!(n <= 3, "the {n}th probe was the first refused");
    assert_eq!(retry_after.as_deref(), Some("1"));
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_names_every_route_and_the_role_can_only_read() {
    let pipeline = Pipeline::start(|_| {}).await;
    let (status, document) = pipeline.get("/openapi.json").await;
    assert_eq!(status, 200);
    let paths = document["paths"].as_object().unwrap();
    // Every route the router registers, its `{name:regex}` segments as OpenAPI writes them, and
    // nothing else.
    let registered: Vec<String> = trace_api::routes::ROUTES
        .iter()
        .map(|route| {
            route
                .split('/')
                .map(|segment| match segment.split_once(':') {
                    Some((name, _)) if segment.starts_with('{') => format!("{name}}}"),
                    _ => segment.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    assert!(
        registered.contains(&"/log/tile/{path}".to_owned()),
        "{registered:?}"
    );
    for path in &registered {
        assert!(paths.contains_key(path), "{path} is not in /openapi.json");
    }
    let documented: Vec<&String> = paths.keys().collect();
    assert_eq!(
        documented.len(),
        registered.len(),
        "{documented:?} {registered:?}"
    );
    // The service's role reads the ledger and cannot change anything.
    let url = pipeline
        .db
        .login_role(crate::common::READER_ROLE, "tagtrail_reader")
        .await
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // It reads what the owner reads.
    let count = |client: tokio_postgres::Client| async move {
        let count: i64 = client
            .query_one("SELECT count(*) FROM device_keys", &[])
            .await
            .unwrap()
            .get(0);
        (client, count)
    };
    let (client, seen) = count(client).await;
    let (_, owner_sees) = count(pipeline.db.connect().await.unwrap()).await;
    assert_eq!(seen, owner_sees);
    assert_eq!(seen, 1, "the pipeline registers one device key");
    crate::common::assert_refused(
        &client,
        &[
            "INSERT INTO sites (site_id, name) VALUES ('x', 'x')",
            "DELETE FROM checkpoints",
            "SELECT count(*) FROM site_tokens",
            "SELECT count(*) FROM capture_jobs",
        ],
    )
    .await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_checkpoint_is_reused_for_its_refresh_time() {
    let pipeline = Pipeline::start(|config| {
        config.ledger.checkpoint_refresh = std::time::Duration::from_secs(3600);
    })
    .await;
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;
    let history = format!("/items/{}/history", crate::common::segment(ITEM));
    let (status, first) = pipeline.get(&history).await;
    assert_eq!((status, first["total"].as_u64()), (200, Some(1)), "{first}");
    // A newer checkpoint: /log/checkpoint shows it at once, answers keep the reused one.
    pipeline
        .capture(vec![object(1, "OBSERVE", &[ITEM], "shipping")])
        .await;
    let (_, again) = pipeline.get(&history).await;
    assert_eq!(again["checkpoint"], first["checkpoint"]);
    assert_eq!(again["total"], 1);
    pipeline.stop().await;

    // With no reuse, the next answer is as of the newest checkpoint.
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;
    pipeline
        .capture(vec![object(1, "OBSERVE", &[ITEM], "shipping")])
        .await;
    let (_, fresh) = pipeline.get(&history).await;
    assert_eq!(fresh["total"], 2);
    pipeline.stop().await;
}

/// The value of the unlabelled sample `name` in a metrics exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (metric, value) = line.split_once(' ')?;
        (metric == name).then(|| value.parse().ok())?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_audited_periodically_and_a_changed_row_is_a_failure() {
    let pipeline = Pipeline::start(|config| {
        config.audit.interval = std::time::Duration::from_millis(200);
    })
    .await;
    pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            object(1, "OBSERVE", &[ITEM], "shipping"),
        ])
        .await;
    pipeline.wait_for_checkpoint(2).await;
    let metrics = wait_for_metrics(&pipeline, |metrics| {
        sample(metrics, "trace_audit_entries") == Some(2.0)
    })
    .await;
    assert!(
        sample(&metrics, "trace_audit_last_success_timestamp_seconds").unwrap() > 0.0,
        "{metrics}"
    );
    assert!(
        sample(&metrics, "trace_audit_last_run_timestamp_seconds").unwrap() > 0.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "trace_audit_failures_total"),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "trace_audit_errors_total"),
        Some(0.0),
        "{metrics}"
    );

    // A device batch's signature changed behind the ledger's back (as the superuser, past the
    // append-only trigger): the next audit fails.
    let admin = pipeline.db.connect().await.unwrap();
    let changed = admin
        .batch_execute(
            "SET session_replication_role = replica;
             UPDATE device_batches
                SET signature = set_byte(signature, 4, get_byte(signature, 4) # 255)",
        )
        .await;
    changed.unwrap();
    let metrics = wait_for_metrics(&pipeline, |metrics| {
        sample(metrics, "trace_audit_failures_total") >= Some(1.0)
    })
    .await;
    // The last success still counts the entries it verified.
    assert_eq!(
        sample(&metrics, "trace_audit_entries"),
        Some(2.0),
        "{metrics}"
    );
    pipeline.stop().await;
}

/// Reads `/metrics` until `done` holds of it (30 s at most).
async fn wait_for_metrics(pipeline: &Pipeline, done: impl Fn(&str) -> bool) -> String {
    let mut metrics = String::new();
    for _ in 0..300 {
        let (status, text) = pipeline.get_text("/metrics").await;
        assert_eq!(status, 200);
        metrics = text;
        if done(&metrics) {
            return metrics;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the metrics did not reach the expected state within 30 s:\n{metrics}");
}

/// `HEAD` answers as `GET` without a body; every answer tells browsers not to guess its type;
/// other methods are `405` naming both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_like_get_without_a_body_and_no_answer_may_be_sniffed() {
    use std::io::{Read, Write};
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;
    let (status, headers, body) = pipeline.get_raw("/log/checkpoint").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let address = pipeline.trace.trim_start_matches("http://").to_owned();
    let raw = |request: String| {
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).unwrap();
            String::from_utf8(answer).unwrap()
        })
    };
    let head = raw("HEAD /log/checkpoint HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".into())
        .await
        .unwrap();
    let (head_lines, rest) = head.split_once("\r\n\r\n").unwrap();
    assert!(head_lines.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head_lines
            .to_ascii_lowercase()
            .contains(&format!("content-length: {}", body.len())),
        "{head}"
    );
    assert!(
        head_lines
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff")
    );
    assert_eq!(rest, "", "HEAD has no body");
    let post = raw("POST /log/checkpoint HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into())
        .await
        .unwrap();
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(
        post.to_ascii_lowercase().contains("allow: get, head"),
        "{post}"
    );
    let (status, headers, _) = pipeline.get_raw("/no/such/route").await;
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    pipeline.stop().await;
}

/// Readiness says why it is not ready in its own words: the database's error text (which names
/// databases, roles and hosts) goes to the log only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_never_hands_the_database_s_error_text_to_a_client() {
    let missing = "tagtrail_no_such_database_for_readiness";
    let url = format!(
        "{}/{missing}",
        ledger_store::testing::admin_url()
            .rsplit_once('/')
            .unwrap()
            .0
    );
    let service = crate::common::TraceApi::start(url, |_| {}).await;
    let (status, body) = service.get("/health/ready").await;
    assert_eq!(status, 503, "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "the database cannot be read (the cause is in the service's log)"
    );
    assert!(!body.to_string().contains(missing), "{body}");
    service.stop().await;
}

/// Probes are not rate limited, so a flood of them must not reach the database at its rate: the
/// readiness answer is reused for a second, and probes arriving during a check wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_readiness_probes_asks_the_database_about_once_a_second() {
    // On the operator's listener, where probes are not rate limited.
    let pipeline = Pipeline::start(|config| {
        config.http.operator_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;
    let checks = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix("trace_readiness_checks_total "))
            .map_or(0, |value| value.trim().parse().unwrap())
    };
    let before = checks(&pipeline.get_operator("/metrics").await.1);
    let started = std::time::Instant::now();
    let url = format!("{}/health/ready", pipeline.operator());
    let probes: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                (0..40)
                    .map(|_| crate::common::get(&url).0)
                    .filter(|&status| status == 200)
                    .count()
            })
        })
        .collect();
    let mut ready = 0;
    for probe in probes {
        ready += probe.await.unwrap();
    }
    let seconds = started.elapsed().as_secs();
    assert_eq!(ready, 320, "every probe is answered ready");
    let asked = checks(&pipeline.get_operator("/metrics").await.1) - before;
    // One check per second of reuse, plus the one under way when the flood began and ended.
    assert!(
        asked <= seconds + 2,
        "{asked} database checks for 320 probes in {seconds} s"
    );
    pipeline.stop().await;
}

/// One raw HTTP/1.1 request on `stream` and the status of its answer, and whether the server
/// said it closes the connection.
fn raw_get(stream: &mut std::net::TcpStream, path: &str) -> (u16, bool, String) {
    use std::io::{Read, Write};
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // Read until the head and the whole body (its Content-Length) are in.
    loop {
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "the server closed before answering");
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                let status = head[9..12].parse().unwrap();
                let closes = head.to_ascii_lowercase().contains("\r\nconnection: close");
                return (status, closes, body.to_owned());
            }
        }
    }
}

/// A pipeline whose trace-api lets one client hold two connections, and its `host:port`.
async fn capped_to_two() -> (Pipeline, String) {
    let pipeline = Pipeline::start(|config| config.http.max_connections_per_client = 2).await;
    let address = pipeline
        .trace_api()
        .url
        .trim_start_matches("http://")
        .to_owned();
    (pipeline, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holds_at_most_its_share_of_connections_and_slow_ones_are_cut() {
    let (pipeline, address) = capped_to_two().await;
    let outcome = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let connect = || std::net::TcpStream::connect(&address).unwrap();
        // This test's client shares 127.0.0.1 with the harness, which may hold a kept-alive
        // connection of its own: open connections until one is refused.
        let mut open = Vec::new();
        let mut served = Vec::new();
        let (refused, mut third) = loop {
            let mut stream = connect();
            let answer = raw_get(&mut stream, "/openapi.json");
            if answer.0 != 200 {
                break (answer, stream);
            }
            served.push(answer);
            open.push(stream);
            assert!(
                open.len() <= 2,
                "more than 2 connections were served at once"
            );
        };
        // The connections within the cap keep being served.
        let also = raw_get(open.last_mut().unwrap(), "/openapi.json");
        // The refused connection is closed by the server.
        let mut rest = Vec::new();
        let closed = third.read_to_end(&mut rest).map(|_| rest.is_empty());
        drop(third);
        let first = open.remove(0);
        drop(first);
        // One of the two closed: a new connection is served again (the server drops the
        // count when it notices the close; retry until it has).
        let again = (0..200).find_map(|_| {
            let answer = raw_get(&mut connect(), "/openapi.json");
            if answer.0 == 200 {
                return Some(answer);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            None
        });
        // A client that never finishes its request's head is cut off (5 s), without an answer.
        let mut slow = connect();
        slow.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: l")
            .unwrap();
        slow.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut cut = Vec::new();
        let slow_outcome = slow.read_to_end(&mut cut).map(|_| cut);
        (
            served,
            also,
            refused,
            closed,
            again,
            slow_outcome.map_err(|error| error.kind()),
        )
    })
    .await
    .unwrap();
    let (served, also, refused, closed, again, slow) = outcome;
    assert!(
        !served.is_empty(),
        "no connection was served before the cap"
    );
    assert_eq!(also.0, 200, "{also:?}");
    assert_eq!(refused.0, 429, "{refused:?}");
    assert!(
        refused.1,
        "the refused connection is announced closed: {refused:?}"
    );
    assert!(
        refused.2.contains("too-many-connections") && refused.2.contains("2 open connections"),
        "{refused:?}"
    );
    assert_eq!(closed.ok(), Some(true), "the refused connection was closed");
    assert!(
        again.is_some(),
        "a connection was served again once one closed"
    );
    // Cut off: the server closed the connection (possibly after a 408 head) well before the
    // test's own 30 s read timeout, which would show as an error here.
    let cut = slow.expect("the slow connection was cut by the server, not by the test's timeout");
    let text = String::from_utf8_lossy(&cut);
    assert!(cut.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    pipeline.stop().await;
}

/// One client opens thirty connections and sends nothing (cap 2): those beyond the cap and its
/// margin (16) are closed by the server as they open, without waiting for a request to refuse;
/// the others stay open, and are still served or refused with why. Before, each of the thirty
/// stayed open until it sent a request or the 5 s head timeout cut them all alike, so a client
/// could hold any number of connections. The server's workers take connections in no fixed
/// order, so which ones are closed is not known, only how many: the head timeout would close
/// every one, the cap only those beyond it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_twice_a_client_s_cap_are_closed_as_they_open() {
    let (pipeline, address) = capped_to_two().await;
    let (closed, answer) = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut streams: Vec<std::net::TcpStream> = (0..30)
            .map(|_| std::net::TcpStream::connect(&address).unwrap())
            .collect();
        for stream in &streams {
            stream.set_nonblocking(true).unwrap();
        }
        // The test's client shares 127.0.0.1 with the harness, which may hold a connection of
        // its own: 12 or 13 of the thirty are beyond the cap and its margin (2 + 16).
        let mut closed = vec![false; streams.len()];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while closed.iter().filter(|closed| **closed).count() < 12 {
            assert!(std::time::Instant::now() < deadline, "{closed:?}");
            for (stream, closed) in streams.iter_mut().zip(closed.iter_mut()) {
                let mut byte = [0u8; 1];
                match stream.read(&mut byte) {
                    Ok(0) => *closed = true,
                    Ok(_) => panic!("an answer to no request"),
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => *closed = true,
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // One left open asks, and is served or told why it is refused.
        let open = closed.iter().position(|closed| !closed).unwrap();
        let stream = &mut streams[open];
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET /openapi.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        (
            closed.iter().filter(|closed| **closed).count(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    })
    .await
    .unwrap();
    assert!(
        (12..=13).contains(&closed),
        "{closed} closed as they opened"
    );
    assert!(
        answer.starts_with("HTTP/1.1 200")
            || (answer.starts_with("HTTP/1.1 429") && answer.contains("too-many-connections")),
        "{answer}"
    );
    pipeline.stop().await;
}
