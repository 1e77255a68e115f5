//! The MQTT transport against a real Mosquitto: the shared broker at 127.0.0.1:1883 (each test has
//! its own client ids and topic prefix) and, for the restart test, a private broker on a free port.
//!
//! Each test runs the whole bridge (`startup::run`: MQTT transport → smoother → spool) and reads
//! the spool and the metrics endpoint. A message published before the bridge's subscription is in
//! place is lost (nothing holds it yet), so tests first publish a warm-up read until the bridge
//! has accepted one, and wait for results by polling with a deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firmware_bridge::config::Config;
use firmware_bridge::read::{format_time, to_hex};
use firmware_bridge::serial::system_now;
use firmware_bridge::simulator::sgtin96_bytes;
use firmware_bridge::spool::Spool;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const SHARED_BROKER: u16 = 1883;
const DEADLINE: Duration = Duration::from_secs(30);

/// A name unique to this test run.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("tagtrail-test-{name}-{}-{nanos}", std::process::id())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn epc_uri(serial: u64) -> String {
    format!("urn:epc:id:sgtin:0614141.812345.{serial}")
}

fn epc_hex(serial: u64) -> String {
    to_hex(&sgtin96_bytes(serial))
}

/// Polls `check` until it returns something, failing after [`DEADLINE`].
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One test's bridge: its directory, spool, metrics port and MQTT identity.
struct Bridge {
    dir: PathBuf,
    spool: PathBuf,
    metrics_port: u16,
    broker_port: u16,
    client_id: String,
    prefix: String,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Bridge {
    /// Starts the bridge with a Zebra reader (`zebra`), an Impinj reader (`impinj`, TIDs captured)
    /// and a sensor (`cold-room`, temperature in Fahrenheit by configuration) below a unique
    /// prefix, on the broker at `broker_port`.
    async fn start(name: &str, broker_port: u16) -> Bridge {
        let id = unique(name);
        let dir = std::env::temp_dir().join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        let spool = dir.join("spool.sqlite");
        std::fs::write(dir.join("device.key"), "42".repeat(32)).unwrap();
        let metrics_port = free_port();
        let prefix = format!("{id}/");
        let client_id = format!("{id}-bridge");
        let toml = format!(
            r#"
[device]
id = "urn:tagtrail:device:mqtt-test"
key_file = "{key}"

[smoothing]
cycle = "200ms"
absence = "600000ms"
max_epcs_per_event = 500

[[reader]]
id = "zebra-dock"
kind = "zebra"
topic = "zebra"

[[reader]]
id = "impinj-line"
kind = "impinj"
topic = "impinj"

[[read_point]]
reader = "zebra-dock"
read_point = "urn:epc:id:sgln:0614141.00777.0"
biz_step = "receiving"
disposition = "in_progress"
action = "OBSERVE"

[[read_point]]
reader = "impinj-line"
read_point = "urn:epc:id:sgln:0614141.00111.0"
biz_step = "commissioning"
disposition = "active"
action = "ADD"
capture_tid = true

[[sensor]]
topic = "cold-room"
read_point = "urn:epc:id:sgln:0614141.00999.0"
device = "urn:epc:id:giai:0614141.1001"
[sensor.measurements]
temperature = {{ type = "Temperature", uom = "FAH" }}

[spool]
path = "{spool}"

[mqtt]
host = "127.0.0.1"
port = {broker_port}
client_id = "{client_id}"
topic_prefix = "{prefix}"

[metrics]
listen = "127.0.0.1:{metrics_port}"
"#,
            key = dir.join("device.key").display(),
            spool = spool.display(),
        );
        let config = Config::from_toml(&toml).unwrap();
        let key = ledger::key_file::parse_private_key_file(&"42".repeat(32)).unwrap();
        let cancel = CancellationToken::new();
        let run = firmware_bridge::startup::run(config, key, cancel.clone());
        let task = tokio::spawn(async move { run.await.unwrap() });
        Bridge {
            dir,
            spool,
            metrics_port,
            broker_port,
            client_id,
            prefix,
            cancel,
            task: Some(task),
        }
    }

    fn topic(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    fn events(&self) -> Vec<Value> {
        spooled(&self.spool)
    }

    /// The value of one metric series, if exposed.
    fn metric(&self, series: &str) -> Option<f64> {
        let text = scrape(self.metrics_port)?;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    fn messages(&self, topic: &str, outcome: &str) -> Option<f64> {
        self.metric(&format!(
            "firmware_bridge_mqtt_messages_total{{topic=\"{topic}\",outcome=\"{outcome}\"}}"
        ))
    }

    /// Publishes a Zebra read of a warm-up tag until the bridge has accepted a message on the
    /// Zebra topic: its subscriptions are then in place.
    async fn wait_until_subscribed(&self, publisher: &Publisher) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            publisher
                .publish(&self.topic("zebra"), zebra(&[999_999], 1))
                .await;
            let wait = Instant::now() + Duration::from_millis(500);
            while Instant::now() < wait {
                if self.messages("zebra", "accepted").is_some_and(|n| n >= 1.0) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert!(
                Instant::now() < deadline,
                "the bridge never accepted a message"
            );
        }
    }

    /// Stops the bridge, removes its persistent session from the broker and its files.
    async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
        }
        forget_session(self.broker_port, &self.client_id).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spooled(path: &Path) -> Vec<Value> {
    match Spool::open(path, u64::MAX) {
        Ok(spool) => spool
            .peek(usize::MAX)
            .map(|events| {
                events
                    .into_iter()
                    .map(|e| serde_json::from_str(&e.event).unwrap())
                    .collect()
            })
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn scrape(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// EPC URIs of the arrival events at `read_point`.
fn arrivals_at(events: &[Value], read_point: &str) -> BTreeSet<String> {
    events
        .iter()
        .filter(|event| {
            event["readPoint"]["id"] == read_point
                && event["tagtrail:smoothing"]["tagtrail:transition"] == "arrival"
        })
        .flat_map(|event| event["epcList"].as_array().cloned().unwrap_or_default())
        .filter_map(|epc| epc.as_str().map(str::to_owned))
        .collect()
}

fn sensor_events(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|event| event.get("sensorElementList").is_some())
        .collect()
}

fn now() -> String {
    format_time(system_now())
}

/// A Zebra IoT Connector message: one tag data event per serial.
fn zebra(serials: &[u64], antenna: u16) -> String {
    let events: Vec<Value> = serials
        .iter()
        .map(|serial| {
            json!({"type": "SIMPLE", "timestamp": now(),
                   "data": {"idHex": epc_hex(*serial), "antenna": antenna, "peakRssi": -52}})
        })
        .collect();
    Value::Array(events).to_string()
}

/// An Impinj IoT device interface message with a TID.
fn impinj(serial: u64) -> String {
    json!({"timestamp": now(), "hostname": "impinj-test", "eventType": "tagInventory",
           "tagInventoryEvent": {"epcHex": epc_hex(serial), "tidHex": "E2801190200051E0A5BA0301",
                                 "antennaPort": 1, "peakRssiCdbm": -5600}})
    .to_string()
}

/// A test's MQTT publisher (clean session), its event loop polled in the background.
struct Publisher {
    client: AsyncClient,
    poller: tokio::task::JoinHandle<()>,
}

impl Publisher {
    fn connect(port: u16, client_id: &str) -> Publisher {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let poller = tokio::spawn(async move {
            loop {
                if eventloop.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Publisher { client, poller }
    }

    async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .unwrap();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Connects once with a clean session as `client_id`, which discards the broker's persistent
/// session for it.
async fn forget_session(port: u16, client_id: &str) {
    let options = MqttOptions::new(client_id, "127.0.0.1", port);
    let (client, mut eventloop) = AsyncClient::new(options, 4);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zebra_and_impinj_messages_become_smoothed_events_in_the_spool() {
    let bridge = Bridge::start("readers", SHARED_BROKER).await;
    let publisher = Publisher::connect(SHARED_BROKER, &unique("readers-pub"));
    bridge.wait_until_subscribed(&publisher).await;

    publisher
        .publish(&bridge.topic("zebra"), zebra(&[1, 2, 3], 1))
        .await;
    publisher
        .publish(&bridge.topic("zebra"), zebra(&[2, 3], 2))
        .await;
    publisher.publish(&bridge.topic("impinj"), impinj(10)).await;

    let dock = "urn:epc:id:sgln:0614141.00777.0";
    let line = "urn:epc:id:sgln:0614141.00111.0";
    let events = eventually("arrivals at both read points", || {
        let events = bridge.events();
        let dock_arrivals = arrivals_at(&events, dock);
        let wanted = [1, 2, 3].map(epc_uri);
        let done = wanted.iter().all(|epc| dock_arrivals.contains(epc))
            && arrivals_at(&events, line).contains(&epc_uri(10));
        done.then_some(events)
    })
    .await;

    // Each tag arrived once, however often it was read.
    let dock_epcs: Vec<&Value> = events
        .iter()
        .filter(|event| event["readPoint"]["id"] == dock)
        .flat_map(|event| event["epcList"].as_array().unwrap())
        .collect();
    assert_eq!(dock_epcs.len(), 4, "warm-up tag and 1, 2, 3: {dock_epcs:?}");
    let zebra_event = events
        .iter()
        .find(|event| {
            event["epcList"]
                .as_array()
                .unwrap()
                .contains(&json!(epc_uri(1)))
        })
        .unwrap();
    assert_eq!(zebra_event["bizStep"], "receiving");
    assert_eq!(zebra_event["action"], "OBSERVE");
    assert_eq!(
        zebra_event["tagtrail:smoothing"]["tagtrail:reader"],
        "zebra-dock"
    );

    let impinj_event = events
        .iter()
        .find(|event| event["readPoint"]["id"] == line)
        .unwrap();
    assert_eq!(impinj_event["action"], "ADD");
    assert_eq!(impinj_event["bizStep"], "commissioning");
    assert_eq!(
        impinj_event["tagtrail:tids"],
        json!([{"tagtrail:epc": epc_uri(10), "tagtrail:tid": "E2801190200051E0A5BA0301"}])
    );
    assert_eq!(bridge.messages("impinj", "accepted"), Some(1.0));
    assert_eq!(bridge.messages("zebra", "rejected"), Some(0.0));
    assert!(
        bridge
            .metric("firmware_bridge_reads_total{reader=\"zebra-dock\",outcome=\"arrived\"}")
            .is_some_and(|n| n >= 4.0)
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_telemetry_becomes_sensor_events_with_gs1_measurement_types_and_units() {
    let bridge = Bridge::start("sensor", SHARED_BROKER).await;
    let publisher = Publisher::connect(SHARED_BROKER, &unique("sensor-pub"));
    bridge.wait_until_subscribed(&publisher).await;

    let time = "2026-11-22T03:00:00.000Z";
    publisher
        .publish(
            &bridge.topic("cold-room"),
            json!({"time": time, "readings": {"temperature": 38.5, "humidity": 61.5, "battery": 3.1}})
                .to_string(),
        )
        .await;

    let events = eventually("a sensor event", || {
        let events = bridge.events();
        (!sensor_events(&events).is_empty()).then_some(events)
    })
    .await;
    let sensor = sensor_events(&events);
    assert_eq!(sensor.len(), 1);
    let event = sensor[0];
    assert_eq!(event["type"], "ObjectEvent");
    assert_eq!(event["action"], "OBSERVE");
    assert_eq!(event["bizStep"], "sensor_reporting");
    assert_eq!(event["eventTime"], time);
    assert_eq!(event["readPoint"]["id"], "urn:epc:id:sgln:0614141.00999.0");
    let element = &event["sensorElementList"][0];
    assert_eq!(
        element["sensorMetadata"]["deviceID"],
        "urn:epc:id:giai:0614141.1001"
    );
    // The configured mapping (Fahrenheit) overrides the standard one; humidity uses the standard
    // one; the unmapped battery reading is left out.
    assert_eq!(
        element["sensorReport"],
        json!([
            {"type": "RelativeHumidity", "value": 61.5, "uom": "P1"},
            {"type": "Temperature", "value": 38.5, "uom": "FAH"},
        ])
    );
    assert_eq!(bridge.messages("cold-room", "accepted"), Some(1.0));
    assert_eq!(
        bridge.metric("firmware_bridge_events_built_total{transition=\"sensor\"}"),
        Some(1.0)
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_payload_is_refused_and_counted_and_later_messages_still_flow() {
    let bridge = Bridge::start("bad", SHARED_BROKER).await;
    let publisher = Publisher::connect(SHARED_BROKER, &unique("bad-pub"));
    bridge.wait_until_subscribed(&publisher).await;

    // A message whose first event is good and second is not: the whole message is refused, so
    // tag 500 must never arrive.
    let half_good = json!([
        {"timestamp": now(), "data": {"idHex": epc_hex(500), "antenna": 1}},
        {"timestamp": now(), "data": {"idHex": "XYZ", "antenna": 1}},
    ])
    .to_string();
    publisher.publish(&bridge.topic("zebra"), half_good).await;
    publisher.publish(&bridge.topic("zebra"), "not json").await;
    publisher
        .publish(
            &bridge.topic("cold-room"),
            r#"{"time":"yesterday","readings":{}}"#,
        )
        .await;
    publisher
        .publish(&bridge.topic("zebra"), zebra(&[501], 1))
        .await;
    publisher
        .publish(
            &bridge.topic("cold-room"),
            json!({"time": now(), "readings": {"temperature": 40.0}}).to_string(),
        )
        .await;

    let dock = "urn:epc:id:sgln:0614141.00777.0";
    let events = eventually("the good messages after the bad ones", || {
        let events = bridge.events();
        let done = arrivals_at(&events, dock).contains(&epc_uri(501))
            && !sensor_events(&events).is_empty();
        done.then_some(events)
    })
    .await;
    // Messages are handled in order, so tag 500 would be spooled by now had it been accepted.
    assert!(!arrivals_at(&events, dock).contains(&epc_uri(500)));
    let sensor = sensor_events(&events);
    assert_eq!(sensor.len(), 1, "only the good telemetry: {sensor:?}");
    assert_eq!(
        sensor[0]["sensorElementList"][0]["sensorReport"][0]["value"],
        40.0
    );
    assert_eq!(bridge.messages("zebra", "rejected"), Some(2.0));
    assert_eq!(bridge.messages("cold-room", "rejected"), Some(1.0));
    assert_eq!(bridge.messages("cold-room", "accepted"), Some(1.0));
    bridge.stop().await;
}

/// A private Mosquitto on `port`, killed on drop.
struct Broker {
    child: Child,
}

impl Broker {
    fn start(dir: &Path, port: u16) -> Broker {
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let mut child = Command::new("/usr/sbin/mosquitto")
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto runs");
            // Ready when it accepts connections; if it exited (the port was briefly still
            // taken), start it again.
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Broker { child };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(Instant::now() < deadline, "mosquitto did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.wait();
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_broker_restart_the_bridge_reconnects_and_its_subscriptions_come_back() {
    let port = free_port();
    let broker_dir = std::env::temp_dir().join(unique("broker"));
    std::fs::create_dir_all(&broker_dir).unwrap();
    let broker = Broker::start(&broker_dir, port);
    let bridge = Bridge::start("restart", port).await;
    let dock = "urn:epc:id:sgln:0614141.00777.0";
    {
        let publisher = Publisher::connect(port, &unique("restart-pub-1"));
        bridge.wait_until_subscribed(&publisher).await;
        publisher
            .publish(&bridge.topic("zebra"), zebra(&[700], 1))
            .await;
        eventually("tag 700 before the restart", || {
            arrivals_at(&bridge.events(), dock)
                .contains(&epc_uri(700))
                .then_some(())
        })
        .await;
    }

    // The broker goes away with every session (no persistence) and comes back on the same port.
    broker.kill();
    let broker = Broker::start(&broker_dir, port);

    let publisher = Publisher::connect(port, &unique("restart-pub-2"));
    // Until the bridge has reconnected and subscribed again, messages reach no subscriber; keep
    // publishing until one gets through.
    let deadline = Instant::now() + DEADLINE;
    loop {
        publisher
            .publish(&bridge.topic("zebra"), zebra(&[701], 1))
            .await;
        publisher
            .publish(
                &bridge.topic("cold-room"),
                json!({"time": now(), "readings": {"temperature": 41.0}}).to_string(),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let events = bridge.events();
        if arrivals_at(&events, dock).contains(&epc_uri(701)) && !sensor_events(&events).is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no message arrived after the broker restarted"
        );
    }
    bridge.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&broker_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_publishes_zebra_reads_and_telemetry_that_the_bridge_spools() {
    let bridge = Bridge::start("simulate", SHARED_BROKER).await;
    let mut simulator = Command::new(env!("CARGO_BIN_EXE_firmware-bridge"))
        .args(["simulate", "--mqtt", "127.0.0.1:1883", "--mqtt-prefix"])
        .arg(&bridge.prefix)
        .args(["--mqtt-client-id", &unique("simulator")])
        .args(["--zebra-topic", "zebra", "--sensor-topic", "cold-room"])
        .args(["--tags", "25", "--first-serial", "1000", "--pass-ms", "400"])
        .args(["--sensor-interval-ms", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // The pass repeats, so every tag is eventually published after the bridge subscribed.
    let wanted: BTreeSet<String> = (1000..1025).map(epc_uri).collect();
    let dock = "urn:epc:id:sgln:0614141.00777.0";
    let events = eventually("every simulated tag and a sensor event", || {
        let events = bridge.events();
        let arrived = arrivals_at(&events, dock);
        (wanted.is_subset(&arrived) && !sensor_events(&events).is_empty()).then_some(events)
    })
    .await;
    let _ = simulator.kill();
    let _ = simulator.wait();

    assert_eq!(arrivals_at(&events, dock), wanted, "only the population");
    let report = &sensor_events(&events)[0]["sensorElementList"][0]["sensorReport"];
    let kinds: Vec<(&str, &str)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["type"].as_str().unwrap(), r["uom"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("RelativeHumidity", "P1"), ("Temperature", "FAH")]);
    assert_eq!(bridge.messages("zebra", "rejected"), Some(0.0));
    bridge.stop().await;
}

#[test]
fn an_empty_mqtt_client_id_is_refused_because_the_session_is_persistent() {
    let toml = r#"
[device]
id = "urn:tagtrail:device:mqtt-test"
key_file = "/nonexistent"

[[sensor]]
topic = "cold-room"
read_point = "urn:epc:id:sgln:0614141.00999.0"

[spool]
path = "/nonexistent/spool.sqlite"

[mqtt]
client_id = ""
"#;
    let error = Config::from_toml(toml).unwrap_err().to_string();
    assert!(error.contains("mqtt.client_id"), "{error}");
}
