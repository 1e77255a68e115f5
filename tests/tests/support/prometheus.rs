//! The repository's Prometheus configuration (`ops/prometheus/`), rendered and run: a real
//! Prometheus server of a test's own, and its HTTP API.
//!
//! `scripts/services` installs Prometheus and promtool (Debian's `prometheus` package) and writes
//! their paths to `TAGTRAIL_PROMETHEUS_BIN` and `TAGTRAIL_PROMTOOL_BIN` in the settings file that
//! `scripts/test` loads.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::services::{Process, TempDir, free_port, http_status, wait_for};

pub const PROMETHEUS_VARIABLE: &str = "TAGTRAIL_PROMETHEUS_BIN";
pub const PROMTOOL_VARIABLE: &str = "TAGTRAIL_PROMTOOL_BIN";

/// A path in the repository, from its root (`["ops", "prometheus", "alerts.yml"]`).
pub fn repository_path(parts: &[&str]) -> PathBuf {
    // The tests crate is a directory of the repository's root.
    let mut path: PathBuf = [env!("CARGO_MANIFEST_DIR"), ".."].iter().collect();
    path.extend(parts);
    path
}

/// The executable an environment variable of `scripts/services`'s settings names.
pub fn tool(variable: &str) -> PathBuf {
    let path = std::env::var_os(variable)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "{variable} is not set: run scripts/services, which installs Prometheus and promtool, \
                 and load the settings it writes (set -a; . ~/.cache/tagtrail/env; set +a)"
            )
        });
    assert!(
        path.is_file(),
        "{variable}={} is not a file: run scripts/services again",
        path.display()
    );
    path
}

/// What each job of `ops/prometheus/prometheus.yml` scrapes (`host:port` each).
#[derive(Debug, Default)]
pub struct Targets {
    pub ingest: Vec<String>,
    pub bridge: Vec<String>,
    pub trace_api: Vec<String>,
    pub anchor: Vec<String>,
}

/// `ops/prometheus/prometheus.yml` with its placeholders filled in, its rules read from the
/// repository's `ops/prometheus/`.
pub fn render_config(targets: &Targets, interval: &str) -> String {
    let template =
        std::fs::read_to_string(repository_path(&["ops", "prometheus", "prometheus.yml"])).unwrap();
    let list = |targets: &[String]| {
        targets
            .iter()
            .map(|target| format!("'{target}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rules_dir = repository_path(&["ops", "prometheus"])
        .canonicalize()
        .unwrap();
    let rendered = [
        ("TAGTRAIL_SCRAPE_INTERVAL", interval.to_owned()),
        ("TAGTRAIL_RULES_DIR", rules_dir.to_str().unwrap().to_owned()),
        ("TAGTRAIL_INGEST_TARGETS", list(&targets.ingest)),
        ("TAGTRAIL_BRIDGE_TARGETS", list(&targets.bridge)),
        ("TAGTRAIL_TRACE_API_TARGETS", list(&targets.trace_api)),
        ("TAGTRAIL_ANCHOR_TARGETS", list(&targets.anchor)),
    ]
    .iter()
    .fold(template, |text, (name, value)| {
        text.replace(&format!("${{{name}}}"), value)
    });
    assert!(
        !rendered.contains("${TAGTRAIL_"),
        "a placeholder of ops/prometheus/prometheus.yml is not filled in:\n{rendered}"
    );
    rendered
}

/// One sample of an instant query's answer.
#[derive(Debug)]
pub struct Sample {
    /// As Prometheus writes it: a decimal number, `NaN`, `+Inf` or `-Inf`.
    pub value: String,
}

impl Sample {
    /// A number other than NaN or an infinity.
    pub fn is_finite(&self) -> bool {
        self.value.parse::<f64>().is_ok_and(f64::is_finite)
    }
}

/// An alerting rule as the server loaded it.
#[derive(Debug)]
pub struct AlertRule {
    pub name: String,
    pub query: String,
}

/// A Prometheus server with its own directory and port, stopped (and its data removed) on drop.
pub struct Prometheus {
    pub address: String,
    // Dropped in this order: the server, then its directory.
    _process: Process,
    _dir: TempDir,
}

impl Prometheus {
    /// Starts the server `TAGTRAIL_PROMETHEUS_BIN` names on the repository's configuration,
    /// scraping `targets` and evaluating the rules every `interval`, and waits until it is ready.
    pub fn start(targets: &Targets, interval: &str) -> Prometheus {
        let dir = TempDir::new("tagtrail-prometheus");
        let config = dir.0.join("prometheus.yml");
        std::fs::write(&config, render_config(targets, interval)).unwrap();
        let port = free_port();
        let process = Process::spawn(
            Command::new(tool(PROMETHEUS_VARIABLE))
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.0.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn"),
        );
        wait_for("Prometheus to be ready", Duration::from_secs(60), || {
            http_status(port, "/-/ready") == Some(200)
        });
        Prometheus {
            address: format!("http://127.0.0.1:{port}"),
            _process: process,
            _dir: dir,
        }
    }

    /// `GET /api/v1/<path>` with query parameters: the answer's `data`, or the server's error.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut request = agent.get(format!("{}/api/v1/{path}", self.address));
        for (name, value) in params {
            request = request.query(*name, *value);
        }
        let mut response = request.call().map_err(|error| error.to_string())?;
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|error| error.to_string())?;
        let answer: serde_json::Value =
            serde_json::from_str(&body).map_err(|error| format!("{error}: {body}"))?;
        if answer["status"] == "success" {
            Ok(answer["data"].clone())
        } else {
            Err(format!("{}: {}", answer["errorType"], answer["error"]))
        }
    }

    /// An instant query, now.
    pub fn query(&self, expr: &str) -> Result<Vec<Sample>, String> {
        let data = self.api("query", &[("query", expr)])?;
        let result = match data["resultType"].as_str() {
            Some("vector") => data["result"].as_array().cloned().unwrap_or_default(),
            // A scalar or string answer is one sample without labels.
            Some("scalar" | "string") => {
                vec![serde_json::json!({"metric": {}, "value": data["result"]})]
            }
            other => return Err(format!("unexpected result type {other:?}")),
        };
        Ok(result
            .into_iter()
            .map(|sample| Sample {
                value: sample["value"][1].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// The name of every metric the server holds (what its targets exported, and `up` and the
    /// other series it writes about each scrape).
    pub fn metric_names(&self) -> BTreeSet<String> {
        let data = self.api("label/__name__/values", &[]).unwrap();
        data.as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect()
    }

    /// Every alerting rule the server loaded.
    pub fn alert_rules(&self) -> Vec<AlertRule> {
        let data = self.api("rules", &[("type", "alert")]).unwrap();
        data["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|group| group["rules"].as_array().unwrap().iter())
            .map(|rule| AlertRule {
                name: rule["name"].as_str().unwrap().to_owned(),
                query: rule["query"].as_str().unwrap().to_owned(),
            })
            .collect()
    }

    /// `(alert name, state)` of every alert pending or firing now.
    pub fn active_alerts(&self) -> Vec<(String, String)> {
        let data = self.api("alerts", &[]).unwrap();
        data["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| {
                (
                    alert["labels"]["alertname"].as_str().unwrap().to_owned(),
                    alert["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The health of every scrape target: `(job, instance, health, last error)`.
    pub fn targets(&self) -> Vec<(String, String, String, String)> {
        let data = self.api("targets", &[("state", "active")]).unwrap();
        data["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|target| {
                let text =
                    |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
                (
                    text(&target["labels"]["job"]),
                    text(&target["labels"]["instance"]),
                    text(&target["health"]),
                    text(&target["lastError"]),
                )
            })
            .collect()
    }
}
