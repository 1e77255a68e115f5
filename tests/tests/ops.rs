//! The operations files, checked against Prometheus's own tools and against the running services:
//!
//! - `promtool check config` accepts `ops/prometheus/prometheus.yml` (rendered), `promtool check
//!   rules` accepts `alerts.yml`, `promtool test rules alerts_test.yml` passes, and that file has,
//!   for every alert, an evaluation where it fires and one where it does not; every alert's
//!   `runbook` is its section of `docs/OPERATIONS.md`; every dashboard in `dashboards/` is a
//!   Grafana dashboard whose panels query the `datasource` variable.
//! - The live check: the simulated dock door and MQTT readers feed `firmware-bridge`, which
//!   uploads to `ingest`; `trace-api` serves histories and proofs; the `anchor` worker anchors the
//!   growing log's checkpoints on a local chain of the test's own (anvil); a real Prometheus scrapes
//!   all four every second with the repository's configuration and rules. Once the pipeline flows,
//!   every scrape target is up and every dashboard panel's query and every alert's expression is
//!   evaluated through the HTTP API: none may name a metric that no scraped service exports, every
//!   panel must return data, and every operand of an alert's comparisons must return data (the
//!   whole alert expression is expected to return nothing while all is well). No alert may fire.
//!
//! Prometheus and promtool are the paths `TAGTRAIL_PROMETHEUS_BIN` and `TAGTRAIL_PROMTOOL_BIN` name
//! and anvil the one `TAGTRAIL_ANVIL_BIN` names (written by `scripts/services`); the services are
//! the workspace's binaries, built beside this test's executable (`scripts/test` builds them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.
#![allow(clippy::print_stdout)] // The live check reports its timings.

mod hostile;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anchor::testing::Anvil;
use anchor::tx::Signer;
use ledger_store::testing::TestDatabase;
use support::prometheus::{
    PROMTOOL_VARIABLE, Prometheus, Targets, render_config, repository_path, tool,
};
use support::promql;
use support::services::{
    Ingest, Process, TempDir, binary, free_port, gateway_device, http_status, log_and_site,
    runtime, wait_for,
};

/// What Grafana's built-in interval variables stand for in the live check.
const GRAFANA_INTERVALS: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("$__interval", "15s"),
    ("$__range", "5m"),
];

fn promtool(args: &[&str]) -> String {
    let output = Command::new(tool(PROMTOOL_VARIABLE))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn read(parts: &[&str]) -> String {
    let path = repository_path(parts);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// `(name, runbook)` of every alert in `alerts.yml`, read from its `- alert:` and `runbook:` lines
/// (promtool has checked the file's structure).
fn alerts_in_rules_file() -> Vec<(String, Option<String>)> {
    let mut alerts: Vec<(String, Option<String>)> = Vec::new();
    for line in read(&["ops", "prometheus", "alerts.yml"]).lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("- alert:") {
            alerts.push((name.trim().to_owned(), None));
        } else if let Some(runbook) = line.strip_prefix("runbook:") {
            let (_, last) = alerts.last_mut().expect("a runbook before any alert");
            *last = Some(runbook.trim().trim_matches('"').to_owned());
        }
    }
    alerts
}

/// For each alert name in `alerts_test.yml`: (evaluations where it fires, where it does not).
fn unit_test_cases() -> BTreeMap<String, (usize, usize)> {
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (number, line) in read(&["ops", "prometheus", "alerts_test.yml"])
        .lines()
        .enumerate()
    {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("alertname:") {
            current = Some(name.trim().to_owned());
        } else if let Some(expected) = line.strip_prefix("exp_alerts:") {
            let name = current.clone().unwrap_or_else(|| {
                panic!(
                    "alerts_test.yml:{}: exp_alerts without an alertname",
                    number + 1
                )
            });
            let entry = cases.entry(name).or_default();
            match expected.trim() {
                "[]" => entry.1 += 1,
                // A list follows on the next lines: the alert fires.
                "" => entry.0 += 1,
                other => panic!(
                    "alerts_test.yml:{}: write `exp_alerts: []` or a block list, not {other:?}",
                    number + 1
                ),
            }
        }
    }
    cases
}

/// The anchors GitHub gives the headings of a Markdown file (lowercase, spaces to dashes, other
/// punctuation dropped).
fn heading_anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Every dashboard in `dashboards/`: (file name, its JSON).
fn dashboards() -> Vec<(String, serde_json::Value)> {
    let mut files: Vec<_> = std::fs::read_dir(repository_path(&["dashboards"]))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let text = std::fs::read_to_string(path).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("dashboards/{name} is not JSON: {error}"));
            (name, json)
        })
        .collect()
}

/// What a check is about, and how it must answer.
#[derive(Debug)]
enum Check {
    /// A dashboard panel's query: must return data.
    Panel { expr: String },
    /// A dashboard variable's `label_values(metric, label)`: the metric must carry the label.
    Variable { metric: String, label: String },
    /// An alert's expression: each operand of its comparisons must return data.
    Alert { expr: String },
}

/// Every query of every dashboard, with the dashboard's variables filled in as Grafana's "All"
/// does; `(id, check)`.
fn dashboard_checks() -> Vec<(String, Check)> {
    let mut checks = Vec::new();
    for (file, dashboard) in dashboards() {
        let variables = dashboard["templating"]["list"].as_array().unwrap();
        let mut values: Vec<(String, String)> = GRAFANA_INTERVALS
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        for variable in variables.iter().filter(|v| v["type"] == "query") {
            let name = variable["name"].as_str().unwrap();
            let all = variable["allValue"]
                .as_str()
                .unwrap_or_else(|| panic!("dashboards/{file}: variable {name} has no allValue"));
            values.push((format!("${name}"), all.to_owned()));
            let definition = variable["definition"].as_str().unwrap();
            let (metric, label) = definition
                .strip_prefix("label_values(")
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|rest| rest.split_once(','))
                .unwrap_or_else(|| {
                    panic!("dashboards/{file}: variable {name}: read only label_values(metric, label), not {definition:?}")
                });
            checks.push((
                format!("dashboards/{file}: variable {name}"),
                Check::Variable {
                    metric: metric.trim().to_owned(),
                    label: label.trim().to_owned(),
                },
            ));
        }
        // Longer names first: `$__rate_interval` before `$__interval`.
        values.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        for panel in dashboard["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = values.iter().fold(
                    target["expr"].as_str().unwrap().to_owned(),
                    |expr, (name, value)| expr.replace(name.as_str(), value),
                );
                assert!(
                    !expr.contains('$'),
                    "dashboards/{file}: {title}: a variable the dashboard does not define: {expr}"
                );
                checks.push((format!("dashboards/{file}: {title}"), Check::Panel { expr }));
            }
        }
    }
    checks
}

/// Whether `expr` returns at least one sample that is a number: `Err` says why not.
fn returns_data(prometheus: &Prometheus, expr: &str) -> Result<(), String> {
    let samples = prometheus.query(expr)?;
    if samples.is_empty() {
        return Err(format!("returns no series: {expr}"));
    }
    if !samples.iter().any(support::prometheus::Sample::is_finite) {
        let values: Vec<&str> = samples.iter().map(|s| s.value.as_str()).collect();
        return Err(format!("returns only {values:?}: {expr}"));
    }
    Ok(())
}

/// What is wrong with one check now (empty: nothing).
fn problems(prometheus: &Prometheus, exported: &BTreeSet<String>, check: &Check) -> Vec<String> {
    let expr = match check {
        Check::Panel { expr } | Check::Alert { expr } => expr.as_str(),
        Check::Variable { metric, .. } => metric.as_str(),
    };
    let names = match promql::metric_names(expr) {
        Ok(names) => names,
        Err(error) => return vec![error],
    };
    let unknown: Vec<String> = names
        .into_iter()
        .filter(|name| !exported.contains(name))
        .collect();
    if !unknown.is_empty() {
        return vec![format!(
            "names {unknown:?}, which no scraped service exports: {expr}"
        )];
    }
    let result = match check {
        Check::Panel { expr } => returns_data(prometheus, expr),
        Check::Variable { metric, label } => returns_data(
            prometheus,
            &format!("count by ({label}) ({metric}{{{label}!=\"\"}})"),
        ),
        Check::Alert { expr } => match promql::operands(expr) {
            Ok(operands) if operands.is_empty() => Err(format!("has no operand to check: {expr}")),
            Ok(operands) => operands
                .iter()
                .map(|operand| returns_data(prometheus, operand))
                .collect::<Result<Vec<()>, String>>()
                .map(|_| ()),
            Err(error) => Err(error),
        },
    };
    result.err().into_iter().collect()
}

#[test]
fn promtool_accepts_the_config_and_rules_and_every_alert_is_unit_tested_and_documented() {
    // The configuration, rendered as scripts/up renders it (promtool also checks the rule file).
    let dir = TempDir::new("tagtrail-promtool");
    let config = dir.0.join("prometheus.yml");
    let targets = Targets {
        ingest: vec!["127.0.0.1:8080".to_owned()],
        bridge: vec!["127.0.0.1:9464".to_owned(), "10.0.0.7:9464".to_owned()],
        trace_api: vec!["127.0.0.1:8090".to_owned()],
        anchor: Vec::new(),
    };
    std::fs::write(&config, render_config(&targets, "15s")).unwrap();
    let checked = promtool(&["check", "config", config.to_str().unwrap()]);
    assert!(checked.contains("SUCCESS"), "{checked}");

    let rules = repository_path(&["ops", "prometheus", "alerts.yml"]);
    let alerts = alerts_in_rules_file();
    let checked = promtool(&["check", "rules", rules.to_str().unwrap()]);
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", alerts.len())),
        "promtool counted other rules than the `- alert:` lines ({}):\n{checked}",
        alerts.len()
    );
    let tests = repository_path(&["ops", "prometheus", "alerts_test.yml"]);
    promtool(&["test", "rules", tests.to_str().unwrap()]);

    // Every alert fires in some evaluation and stays quiet in another; the tests name no other.
    let cases = unit_test_cases();
    let names: BTreeSet<&str> = alerts.iter().map(|(name, _)| name.as_str()).collect();
    let mut missing = Vec::new();
    for name in &names {
        let (firing, quiet) = cases.get(*name).copied().unwrap_or_default();
        if firing == 0 {
            missing.push(format!("{name}: no evaluation where it fires"));
        }
        if quiet == 0 {
            missing.push(format!("{name}: no evaluation where it stays quiet"));
        }
    }
    for name in cases.keys() {
        if !names.contains(name.as_str()) {
            missing.push(format!("{name}: tested, but alerts.yml has no such alert"));
        }
    }
    assert!(missing.is_empty(), "alerts_test.yml: {missing:#?}");

    // Every alert's runbook is its own section of docs/OPERATIONS.md.
    let anchors = heading_anchors(&read(&["docs", "OPERATIONS.md"]));
    for (name, runbook) in &alerts {
        let expected = format!("docs/OPERATIONS.md#{}", name.to_lowercase());
        assert_eq!(
            runbook.as_deref(),
            Some(expected.as_str()),
            "{name}'s runbook"
        );
        assert!(
            anchors.contains(&name.to_lowercase()),
            "docs/OPERATIONS.md has no section `{name}` for the alert's runbook"
        );
    }

    // Every dashboard is one Grafana can import: a uid of its own, unique panel ids, every panel
    // on the `datasource` variable with at least one query.
    let mut uids = BTreeSet::new();
    for (file, dashboard) in dashboards() {
        assert!(
            uids.insert(dashboard["uid"].as_str().unwrap().to_owned()),
            "dashboards/{file}: a uid another dashboard has"
        );
        assert!(
            dashboard["title"].is_string(),
            "dashboards/{file}: no title"
        );
        let variables = dashboard["templating"]["list"].as_array().unwrap();
        assert!(
            variables
                .iter()
                .any(|v| v["name"] == "datasource" && v["type"] == "datasource"),
            "dashboards/{file}: no datasource variable"
        );
        let mut ids = BTreeSet::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "dashboards/{file}: {title}: a panel id used twice"
            );
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "dashboards/{file}: {title}"
            );
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "dashboards/{file}: {title}: no query");
            for target in targets {
                assert!(
                    target["expr"].as_str().is_some_and(|expr| !expr.is_empty()),
                    "dashboards/{file}: {title}: a query without expr"
                );
            }
        }
    }
}

#[test]
fn the_promql_reader_finds_metric_names_and_comparison_operands() {
    assert_eq!(
        promql::metric_names(
            r#"sum by (job, instance) (rate(a_total{outcome=~"x|y"}[5m])) / on (job) group_left () max(b) > bool 0.5 or c offset 1h"#
        )
        .unwrap(),
        ["a_total", "b", "c"]
    );
    assert_eq!(
        promql::metric_names("histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le))").unwrap(),
        ["x_bucket"]
    );
    assert_eq!(promql::metric_names("up == 0").unwrap(), ["up"]);
    assert!(promql::metric_names(r#"{__name__="x"}"#).is_err());

    assert_eq!(
        promql::operands("(a > 60 or b == 0) and c > d").unwrap(),
        ["a", "b", "c", "d"]
    );
    assert_eq!(
        promql::operands(r#"x{s="idle"} == 0 and on (job, instance) y > bool -1"#).unwrap(),
        [r#"x{s="idle"}"#, "y"]
    );
    assert_eq!(
        promql::operands("sum(rate(e[5m])) / sum(rate(t[5m])) > 0.01").unwrap(),
        ["sum(rate(e[5m])) / sum(rate(t[5m]))"]
    );
    // Only the top level is split: a comparison inside a function is the operand's business.
    assert_eq!(promql::operands("count(x > 1)").unwrap(), ["count(x > 1)"]);
}

/// The site's read points (all under one location pattern) and the gateway's device.
const LOCATIONS: &str = "urn:epc:idpat:sgln:0614141.00777.*";
const DEVICE: &str = "urn:tagtrail:device:ops-dock-1";
/// The first simulated tag, whose history and bundle the test asks trace-api for.
const ITEM: &str = "urn%3Aepc%3Aid%3Asgtin%3A0614141.812345.1";

/// `host:port` of the MQTT broker `scripts/services` set up.
fn mqtt_broker() -> (String, u16) {
    let url = std::env::var("TAGTRAIL_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let address = url.trim_start_matches("mqtt://").trim_end_matches('/');
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "1883"));
    (host.to_owned(), port.parse().unwrap())
}

/// Connects once with a clean session under `client_id`, which makes the broker drop the
/// persistent session the bridge left behind.
async fn forget_mqtt_session(host: &str, port: u16, client_id: &str) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet};
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(client_id, host, port), 4);
    let goodbye = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_disconnect();
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), goodbye).await;
}

#[test]
fn every_dashboard_query_and_alert_expression_reads_data_from_the_running_pipeline() {
    let started = Instant::now();
    let runtime = runtime();
    let db = runtime.block_on(TestDatabase::create()).unwrap();
    let ingest_url = runtime
        .block_on(db.login_role("tagtrail_ops_ingest", "tagtrail_ingest"))
        .unwrap();
    let trace_url = runtime
        .block_on(db.login_role("tagtrail_ops_trace", "tagtrail_reader"))
        .unwrap();
    let anchor_url = runtime
        .block_on(db.login_role("tagtrail_ops_anchor", "tagtrail_anchor"))
        .unwrap();
    let sql_number = |sql: &str| -> i64 {
        runtime.block_on(async {
            let client = db.connect().await.unwrap();
            client.query_one(sql, &[]).await.unwrap().get(0)
        })
    };
    let dir = TempDir::new("tagtrail-ops");
    let database = db.url().to_owned();

    // The registry: a site, the gateway's key pair and device.
    let checkpoint_key = dir.path("checkpoint.key");
    log_and_site(
        &database,
        &checkpoint_key,
        "ops.test/log",
        ("ops-site", "Ops dock"),
        LOCATIONS,
    );
    let device_key = dir.path("device.key");
    gateway_device(&database, &device_key, DEVICE, "ops-site");

    let ingest = Ingest {
        port: free_port(),
        database_url: ingest_url,
        checkpoint_key: checkpoint_key.into(),
    };
    let _ingest = ingest.start();

    // The anchor worker on a local chain of the test's own, with a funded key of its own: it deploys
    // the anchor contract, then anchors the newest checkpoint whenever the log grew, at most every
    // second. anvil mines a block per transaction, so with one confirmation an anchor is confirmed
    // in the block that includes it and anchors keep flowing while the log grows.
    let anvil = Anvil::start();
    let signer = Signer::generate();
    anvil.fund(&signer.address());
    let chain_key = dir.path("chain.key");
    std::fs::write(&chain_key, signer.to_hex().as_str()).unwrap();
    let anchor_metrics = free_port();
    let anchor_config = dir.path("anchor.toml");
    std::fs::write(
        &anchor_config,
        format!(
            r#"
[database]
url = "{anchor_url}"

[metrics]
listen = "127.0.0.1:{anchor_metrics}"

[chains.local]
rpc_url = "{rpc_url}"
chain_id = {chain_id}
key_file = "{chain_key}"
interval = "1s"
confirmations = 1
poll = "200ms"
"#,
            rpc_url = anvil.url,
            chain_id = anvil.chain_id,
        ),
    )
    .unwrap();
    let mut anchor = Process::spawn(
        Command::new(binary("anchor"))
            .args(["--config", &anchor_config])
            .env("RUST_LOG", "warn"),
    );

    // The gateway: a simulated JRD dock door on a pseudo-terminal, a Zebra packing-line reader and
    // a cold-room sensor over MQTT (this test's own topic prefix and client ids).
    let (mqtt_host, mqtt_port) = mqtt_broker();
    let pid = std::process::id();
    let prefix = format!("tagtrail-ops-{pid}/");
    let bridge_client = format!("tagtrail-ops-bridge-{pid}");
    let link = dir.path("ttyJRD");
    let bridge_metrics = free_port();
    let config = dir.path("bridge.toml");
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

[[reader]]
id = "dock-door-1"
kind = "jrd"
port = "{link}"

[[reader]]
id = "line-1"
kind = "zebra"
topic = "readers/line-1/events"

[[read_point]]
reader = "dock-door-1"
read_point = "urn:epc:id:sgln:0614141.00777.0"
biz_location = "urn:epc:id:sgln:0614141.00777.0"
biz_step = "receiving"
disposition = "in_progress"
action = "OBSERVE"

[[read_point]]
reader = "line-1"
read_point = "urn:epc:id:sgln:0614141.00777.1"
biz_location = "urn:epc:id:sgln:0614141.00777.1"
biz_step = "commissioning"
disposition = "active"
action = "ADD"

[[sensor]]
topic = "sensors/cold-room-1"
read_point = "urn:epc:id:sgln:0614141.00777.9"
biz_location = "urn:epc:id:sgln:0614141.00777.9"
device = "urn:epc:id:giai:0614141.1001"

[spool]
path = "{spool}"

[upload]
url = "http://127.0.0.1:{ingest_port}/capture"
batch_size = 50
retry_min = "50ms"
retry_max = "500ms"

[mqtt]
host = "{mqtt_host}"
port = {mqtt_port}
client_id = "{bridge_client}"
topic_prefix = "{prefix}"

[metrics]
listen = "127.0.0.1:{bridge_metrics}"
"#,
            spool = dir.path("spool.sqlite"),
            ingest_port = ingest.port,
        ),
    )
    .unwrap();
    let _simulator = Process::spawn(Command::new(binary("firmware-bridge")).args([
        "simulate",
        "--link",
        &link,
        "--mqtt",
        &format!("{mqtt_host}:{mqtt_port}"),
        "--mqtt-prefix",
        &prefix,
        "--mqtt-client-id",
        &format!("tagtrail-ops-simulator-{pid}"),
        "--zebra-topic",
        "readers/line-1/events",
        "--sensor-topic",
        "sensors/cold-room-1",
        "--sensor-interval-ms",
        "1000",
        "--tags",
        "60",
        "--pass-ms",
        "2000",
        "--reads-per-tag",
        "3",
    ]));
    wait_for("the simulated serial port", Duration::from_secs(30), || {
        Path::new(&link).exists()
    });
    let mut bridge = Process::spawn(
        Command::new(binary("firmware-bridge"))
            .args(["run", "--config", &config])
            .env("RUST_LOG", "warn"),
    );
    wait_for(
        "events from the gateway in a signed checkpoint",
        Duration::from_secs(60),
        || sql_number("SELECT coalesce(max(tree_size), 0) FROM checkpoints") > 0,
    );

    // trace-api, once there is a checkpoint to answer as of.
    let trace_port = free_port();
    let _trace = Process::spawn(
        Command::new(binary("trace-api"))
            .args(["--database-url", &trace_url])
            .args(["--listen", &format!("127.0.0.1:{trace_port}")])
            // Audit the log every 2 s, so the audit alerts' operands have data.
            .env("TAGTRAIL_TRACE_AUDIT_INTERVAL", "2s")
            .env("RUST_LOG", "warn"),
    );
    wait_for("trace-api to be ready", Duration::from_secs(30), || {
        http_status(trace_port, "/health/ready") == Some(200)
    });
    wait_for(
        "the anchor worker to be ready",
        Duration::from_secs(30),
        || {
            assert!(!anchor.exited(), "the anchor worker exited");
            http_status(anchor_metrics, "/health/ready") == Some(200)
        },
    );
    wait_for(
        "a checkpoint anchored and confirmed on the local chain",
        Duration::from_secs(60),
        || {
            assert!(!anchor.exited(), "the anchor worker exited");
            sql_number("SELECT count(*) FROM anchors WHERE state = 'confirmed'") > 0
        },
    );
    let event_hash: String = runtime.block_on(async {
        let client = db.connect().await.unwrap();
        client
            .query_one(
                "SELECT encode(event_hash, 'hex') FROM events WHERE leaf_index = 0",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    });
    let read_the_ledger_back = || {
        for path in [
            "/log/checkpoint".to_owned(),
            format!("/items/{ITEM}/history"),
            format!("/items/{ITEM}/bundle"),
            format!("/events/{event_hash}/bundle"),
            format!("/events/{event_hash}/proof"),
        ] {
            assert!(
                http_status(trace_port, &path).is_some(),
                "trace-api did not answer {path}"
            );
        }
    };

    let prometheus = Prometheus::start(
        &Targets {
            ingest: vec![format!("127.0.0.1:{}", ingest.port)],
            bridge: vec![format!("127.0.0.1:{bridge_metrics}")],
            trace_api: vec![format!("127.0.0.1:{trace_port}")],
            anchor: vec![format!("127.0.0.1:{anchor_metrics}")],
        },
        "1s",
    );
    let flowing_at = started.elapsed();

    let mut checks = dashboard_checks();
    let rules = prometheus.alert_rules();
    let documented: BTreeSet<String> = alerts_in_rules_file()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let loaded: BTreeSet<String> = rules.iter().map(|rule| rule.name.clone()).collect();
    assert_eq!(
        loaded, documented,
        "Prometheus loaded other alerts than alerts.yml holds"
    );
    checks.extend(rules.into_iter().map(|rule| {
        (
            format!("alerts.yml: {}", rule.name),
            Check::Alert { expr: rule.query },
        )
    }));
    let jobs = ["ingest", "firmware-bridge", "trace-api", "anchor"];

    // Until every check passes at once: the services keep flowing and trace-api keeps being asked.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut rounds = 0;
    loop {
        rounds += 1;
        read_the_ledger_back();
        assert!(!bridge.exited(), "firmware-bridge exited");
        assert!(!anchor.exited(), "the anchor worker exited");
        let exported = prometheus.metric_names();
        let targets = prometheus.targets();
        let failures: Vec<String> = jobs
            .iter()
            .filter(|job| !targets.iter().any(|(found, ..)| found == *job))
            .map(|job| format!("job {job}: no scrape target"))
            .chain(
                targets
                    .iter()
                    .filter(|(_, _, health, _)| health != "up")
                    .map(|(job, instance, health, error)| {
                        format!("job {job}: target {instance} is {health}: {error}")
                    }),
            )
            .chain(checks.iter().flat_map(|(id, check)| {
                problems(&prometheus, &exported, check)
                    .into_iter()
                    .map(move |problem| format!("{id}: {problem}"))
            }))
            .collect();
        if failures.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {rounds} rounds, {} checks still fail:\n{}\nscrape targets: {targets:#?}",
            failures.len(),
            failures.join("\n"),
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let checked_at = started.elapsed();

    // All is well, so nothing fires (alerts with a `for` may be pending while series start).
    let active = prometheus.active_alerts();
    let firing: Vec<&(String, String)> = active
        .iter()
        .filter(|(_, state)| state == "firing")
        .collect();
    assert!(
        firing.is_empty(),
        "alerts fire while the pipeline is healthy: {firing:?}"
    );

    println!(
        "checked {} queries ({} dashboard panels and variables, {} alerts) in {rounds} rounds; \
         services and Prometheus up after {flowing_at:.1?}, every check passed after {checked_at:.1?}",
        checks.len(),
        checks
            .iter()
            .filter(|(_, c)| !matches!(c, Check::Alert { .. }))
            .count(),
        checks
            .iter()
            .filter(|(_, c)| matches!(c, Check::Alert { .. }))
            .count(),
    );
    println!(
        "{} anchors confirmed on the local chain, up to tree size {}",
        sql_number("SELECT count(*) FROM anchors WHERE state = 'confirmed'"),
        sql_number("SELECT coalesce(max(tree_size), 0) FROM anchors WHERE state = 'confirmed'"),
    );
    if !active.is_empty() {
        println!("pending alerts at the end (not firing): {active:?}");
    }

    drop(bridge);
    runtime.block_on(forget_mqtt_session(&mqtt_host, mqtt_port, &bridge_client));
}
