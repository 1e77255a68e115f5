//! The `firmware-bridge` binary end to end, without ingest: `simulate` plays a JRD module on a
//! pseudo-terminal, `run` reads it, smooths and spools events; the bridge is then killed with
//! SIGKILL and the spool must hold valid EPCIS events for the simulated tags.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firmware_bridge::spool::Spool;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
}

fn spooled(path: &Path) -> Vec<String> {
    match Spool::open(path, u64::MAX) {
        Ok(spool) => spool
            .peek(usize::MAX)
            .map(|events| events.into_iter().map(|e| e.event).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_simulated_dock_door_ends_up_in_the_spool_and_survives_kill_9() {
    let dir = std::env::temp_dir().join(format!("tagtrail-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("ttyJRD");
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spool_path = dir.join("spool.sqlite");
    std::fs::write(dir.join("device.key"), "42".repeat(32)).unwrap();
    let config = format!(
        r#"
[device]
id = "urn:tagtrail:device:cli-test"
key_file = "{key}"

[smoothing]
cycle = "200ms"
absence = "60000ms"
max_epcs_per_event = 500

[[reader]]
id = "dock-door-3"
kind = "jrd"
port = "{link}"
power_dbm = 20

[[read_point]]
reader = "dock-door-3"
read_point = "urn:epc:id:sgln:0614141.00777.0"
biz_step = "receiving"
action = "OBSERVE"

[spool]
path = "{spool}"

[metrics]
listen = "127.0.0.1:{metrics_port}"
"#,
        key = dir.join("device.key").display(),
        link = link.display(),
        spool = spool_path.display(),
        metrics_port = metrics_port,
    );
    let config_path = dir.join("bridge.toml");
    std::fs::write(&config_path, config).unwrap();

    let binary = env!("CARGO_BIN_EXE_firmware-bridge");
    let _simulator = Killed(
        Command::new(binary)
            .args([
                "simulate",
                "--tags",
                "40",
                "--pass-ms",
                "300",
                "--reads-per-tag",
                "3",
                "--link",
            ])
            .arg(&link)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the simulated serial port", || link.exists());
    let mut bridge = Killed(
        Command::new(binary)
            .args(["run", "--config"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let tag_count = |events: &[String]| -> usize {
        events
            .iter()
            .map(|event| {
                serde_json::from_str::<serde_json::Value>(event).unwrap()["epcList"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .sum()
    };
    wait_for("40 tags in the spool", || {
        tag_count(&spooled(&spool_path)) >= 40
    });
    let scrape = scrape(metrics_port);
    for expected in [
        "firmware_bridge_reads_total{reader=\"dock-door-3\",outcome=\"arrived\"} 40",
        "firmware_bridge_frames_total{reader=\"dock-door-3\"}",
        "firmware_bridge_events_built_total{transition=\"arrival\"}",
        "firmware_bridge_spool_depth_events",
    ] {
        assert!(scrape.contains(expected), "missing {expected} in\n{scrape}");
    }
    bridge.0.kill().unwrap();
    bridge.0.wait().unwrap();

    let events = spooled(&spool_path);
    assert_eq!(
        tag_count(&events),
        40,
        "each tag arrives once while it stays in the field"
    );
    let parsed: Vec<serde_json::Map<String, serde_json::Value>> = events
        .iter()
        .map(|event| serde_json::from_str(event).unwrap())
        .collect();
    let document = firmware_bridge::event::capture_document(
        &parsed,
        ledger::UnixMillis::from_millis(1_800_000_000_000),
    );
    let document =
        epcis::document::Document::parse(&serde_json::to_vec(&document).unwrap()).unwrap();
    assert!(epcis::validate::validate(&document).is_ok());
    assert!(
        events
            .iter()
            .all(|event| event.contains("\"bizStep\":\"receiving\""))
    );
}
