//! The MQTT transport: fixed readers (Zebra IoT Connector, Impinj IoT device interface) and sensors
//! that publish JSON to a broker, and the simulator's publisher.
//!
//! [`run`] connects to the `[mqtt]` broker as `client_id` (`rumqttc`, MQTT 3.1.1, plain TCP) and
//! subscribes with QoS 1 to `topic_prefix + topic` of every `zebra`/`impinj` reader and every
//! `[[sensor]]`. Each message goes to the adapter of the route whose filter matches its topic:
//! tag reads go into the smoother's channel like serial reads; sensor samples become
//! `sensorElementList` ObjectEvents ([`crate::event::sensor_event`]) that are spooled at once
//! (sensor events are not smoothed). A message an adapter refuses is logged with the adapter's
//! error and counted (`firmware_bridge_mqtt_messages_total{outcome="rejected"}`); it is acknowledged
//! and dropped, so one bad message never stops a topic.
//!
//! Delivery is at least once, end to end:
//! - **persistent session** (`clean_session = false`): while the bridge is disconnected (network
//!   loss, a bridge restart) the broker keeps its subscriptions and queues QoS 1 messages for it, so
//!   a short outage loses no reads. Because a broker may have lost the session (a restarted broker
//!   without persistence, an expired session), the transport also subscribes again on **every**
//!   ConnAck; subscribing twice is harmless.
//! - **manual acknowledgements**: a message is acknowledged only once its reads are in the
//!   smoother's channel, or its sensor events are committed to the spool. A message that could not
//!   be handed on stays unacknowledged and the broker delivers it again on the next connection.
//!   A message delivered twice yields the same reads (the smoother sees the tags again) or the
//!   same sensor event, byte for byte, which ingest stores once (it is idempotent by event hash).
//!
//! The event loop task only polls `rumqttc` and hands publishes to a bounded channel; a second task
//! parses and forwards them, so a slow spool never stalls keep-alives. After the connection is lost
//! the transport waits with jittered exponential backoff ([`RETRY_MIN`] to [`RETRY_MAX`]) before
//! reconnecting. On cancellation it sends DISCONNECT (the broker keeps the session).
//!
//! Messages are limited to [`MAX_MESSAGE`] bytes: rumqttc drops the connection on a larger one,
//! and with a persistent session the broker would deliver it again, so keep readers' batches
//! below that.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    SubscribeFilter, SubscribeReasonCode,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::adapter::AdapterError;
use crate::config::{Config, MqttConfig, ReaderKind, SensorTopic};
use crate::metrics::Metrics;
use crate::read::{ReaderId, TagRead};
use crate::serial::system_now;
use crate::simulator::{
    SensorWalk, TimedNotice, impinj_tag_inventory, sensor_telemetry, zebra_tag_data,
};
use crate::spool::Spool;
use service_kit::backoff::Backoff;

/// First reconnection delay after the broker is lost (doubling, with jitter, up to [`RETRY_MAX`]).
pub const RETRY_MIN: Duration = Duration::from_millis(250);
/// Longest reconnection delay.
pub const RETRY_MAX: Duration = Duration::from_secs(30);
/// Largest message accepted or published, in bytes.
pub const MAX_MESSAGE: usize = 1024 * 1024;
/// MQTT keep-alive interval.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Capacity of the channel between the event loop and the message handler, and of rumqttc's
/// request channel (subscriptions, acknowledgements).
const CHANNEL: usize = 1024;

/// What one subscription feeds.
#[derive(Debug, Clone)]
pub enum Target {
    /// A Zebra reader's tag data events.
    Zebra(ReaderId),
    /// An Impinj reader's tag inventory events.
    Impinj(ReaderId),
    /// A sensor's telemetry.
    Sensor(Box<SensorTopic>),
}

/// One subscription: the full topic filter (prefix included), the configured topic (the metrics
/// label) and what its messages feed.
#[derive(Debug, Clone)]
pub struct Route {
    filter: String,
    label: String,
    target: Target,
}

impl Route {
    /// A route for `topic` below `prefix`.
    pub fn new(prefix: &str, topic: &str, target: Target) -> Self {
        Route {
            filter: format!("{prefix}{topic}"),
            label: topic.to_owned(),
            target,
        }
    }

    /// The topic filter subscribed to (prefix included).
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The configured topic, without the prefix.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What the route's messages feed.
    pub fn target(&self) -> &Target {
        &self.target
    }
}

/// The routes of a configuration: its `zebra`/`impinj` readers, then its sensors (empty when
/// nothing uses MQTT or `[mqtt]` is absent).
pub fn routes(config: &Config) -> Vec<Route> {
    let Some(mqtt) = &config.mqtt else {
        return Vec::new();
    };
    let prefix = mqtt.topic_prefix.as_str();
    let readers = config.readers.iter().filter_map(|reader| {
        let topic = reader.topic.as_deref()?;
        match reader.kind {
            ReaderKind::Zebra => Some(Route::new(prefix, topic, Target::Zebra(reader.id.clone()))),
            ReaderKind::Impinj => {
                Some(Route::new(prefix, topic, Target::Impinj(reader.id.clone())))
            }
            ReaderKind::Jrd | ReaderKind::Ru5102 => None,
        }
    });
    let sensors = config.sensors.iter().map(|sensor| {
        Route::new(
            prefix,
            &sensor.topic,
            Target::Sensor(Box::new(sensor.clone())),
        )
    });
    readers.chain(sensors).collect()
}

/// What one accepted message yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Tag reads, for the smoother.
    Reads(Vec<TagRead>),
    /// Sensor events (JSON text), for the spool, and reading names the topic has no mapping for.
    SensorEvents {
        /// The events, one per sample with at least one mapped reading.
        events: Vec<String>,
        /// Unmapped reading names (reported in the log).
        unmapped: Vec<String>,
    },
}

/// Runs a payload through its route's adapter.
pub fn decode(target: &Target, payload: &[u8]) -> Result<Decoded, AdapterError> {
    match target {
        Target::Zebra(reader) => {
            crate::adapter::zebra::parse_tag_data(reader, payload).map(Decoded::Reads)
        }
        Target::Impinj(reader) => {
            crate::adapter::impinj::parse_tag_inventory(reader, payload).map(Decoded::Reads)
        }
        Target::Sensor(sensor) => {
            let samples = crate::adapter::sensor::parse_telemetry(&sensor.measurements, payload)?;
            let mut unmapped = Vec::new();
            let mut events = Vec::new();
            for sample in &samples {
                unmapped.extend(sample.unmapped.iter().cloned());
                if let Some(event) = crate::event::sensor_event(sensor, sample) {
                    events.push(serde_json::Value::Object(event).to_string());
                }
            }
            unmapped.sort();
            unmapped.dedup();
            Ok(Decoded::SensorEvents { events, unmapped })
        }
    }
}

/// Where accepted messages go.
#[derive(Debug, Clone)]
pub struct Sinks {
    /// The smoother's read channel.
    pub reads: mpsc::Sender<TagRead>,
    /// The spool, for sensor events.
    pub spool: Arc<Mutex<Spool>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// The client options for the bridge's subscriber.
fn subscriber_options(config: &MqttConfig) -> MqttOptions {
    let mut options = MqttOptions::new(config.client_id.clone(), config.host.clone(), config.port);
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_max_packet_size(MAX_MESSAGE, MAX_MESSAGE)
        .set_manual_acks(true)
        .set_request_channel_capacity(CHANNEL);
    // A persistent session needs a client id; the configuration refuses an empty one, and an
    // empty one falls back to a clean session here rather than panicking in rumqttc.
    if !config.client_id.is_empty() {
        options.set_clean_session(false);
    }
    options
}

/// Runs the MQTT transport until `cancel` fires (see the module documentation).
pub async fn run(config: MqttConfig, routes: Vec<Route>, sinks: Sinks, cancel: CancellationToken) {
    if routes.is_empty() {
        return;
    }
    let (client, eventloop) = AsyncClient::new(subscriber_options(&config), CHANNEL);
    let routes = Arc::new(routes);
    let (messages_tx, messages_rx) = mpsc::channel::<Publish>(CHANNEL);
    let handler = tokio::spawn(handle_messages(
        messages_rx,
        routes.clone(),
        sinks,
        client.clone(),
    ));
    tracing::info!(host = %config.host, port = config.port, client_id = %config.client_id, topics = routes.len(), "MQTT transport starting");
    poll_loop(eventloop, &client, &routes, messages_tx, &cancel).await;
    if let Err(error) = handler.await {
        tracing::error!(error = %error, "the MQTT message handler panicked");
    }
}

async fn poll_loop(
    mut eventloop: EventLoop,
    client: &AsyncClient,
    routes: &[Route],
    messages: mpsc::Sender<Publish>,
    cancel: &CancellationToken,
) {
    let filters: Vec<SubscribeFilter> = routes
        .iter()
        .map(|route| SubscribeFilter::new(route.filter.clone(), QoS::AtLeastOnce))
        .collect();
    let mut backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                tracing::info!(
                    session_present = ack.session_present,
                    "connected to the MQTT broker; subscribing"
                );
                // On every ConnAck: the broker may have lost the session. The request channel is
                // only filled by subscriptions and acknowledgements, far below its capacity.
                if let Err(error) = client.try_subscribe_many(filters.clone()) {
                    tracing::error!(error = %error, "failed to queue the MQTT subscriptions");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let failed = ack
                    .return_codes
                    .iter()
                    .filter(|code| matches!(code, SubscribeReasonCode::Failure))
                    .count();
                if failed > 0 {
                    tracing::error!(
                        failed,
                        "the MQTT broker refused subscriptions (check its ACL)"
                    );
                } else {
                    tracing::debug!(topics = ack.return_codes.len(), "subscribed");
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if messages.send(publish).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(error) => {
                let delay = backoff.next_delay();
                let refused = matches!(
                    error,
                    rumqttc::ConnectionError::ConnectionRefused(
                        ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword
                    )
                );
                tracing::warn!(error = %error, refused, delay_ms = delay.as_millis() as u64, "MQTT connection failed; reconnecting");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    drop(messages);
    // Say goodbye so the broker does not wait for the keep-alive to expire (the session stays).
    if client.try_disconnect().is_ok() {
        let goodbye = async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
    }
}

async fn handle_messages(
    mut messages: mpsc::Receiver<Publish>,
    routes: Arc<Vec<Route>>,
    sinks: Sinks,
    client: AsyncClient,
) {
    while let Some(publish) = messages.recv().await {
        if handle(&publish, &routes, &sinks).await {
            // Fails only when the event loop has stopped: the broker delivers it again.
            let _ = client.ack(&publish).await;
        }
    }
}

/// Handles one message; `true` when it may be acknowledged.
async fn handle(publish: &Publish, routes: &[Route], sinks: &Sinks) -> bool {
    let Some(route) = routes
        .iter()
        .find(|route| rumqttc::matches(&publish.topic, &route.filter))
    else {
        tracing::debug!(topic = %publish.topic, "an MQTT message on a topic no route matches");
        return true;
    };
    let decoded = match decode(&route.target, &publish.payload) {
        Ok(decoded) => decoded,
        Err(error) => {
            sinks.metrics.mqtt_message(&route.label, "rejected", 1);
            tracing::warn!(topic = %publish.topic, bytes = publish.payload.len(), error = %error, "refused an MQTT message");
            return true;
        }
    };
    sinks.metrics.mqtt_message(&route.label, "accepted", 1);
    match decoded {
        Decoded::Reads(reads) => {
            for read in reads {
                if sinks.reads.send(read).await.is_err() {
                    return false; // The smoother has stopped: the bridge is shutting down.
                }
            }
            true
        }
        Decoded::SensorEvents { events, unmapped } => {
            if !unmapped.is_empty() {
                tracing::warn!(topic = %publish.topic, unmapped = ?unmapped, "sensor readings with no measurement mapping were left out");
            }
            for _ in &events {
                sinks.metrics.event_built("sensor");
            }
            crate::startup::spool_json(&sinks.spool, events, &sinks.metrics)
                .await
                .is_ok()
        }
    }
}

/// A broker address given on the command line: `host`, `host:port`, `[v6]:port`, optionally
/// after `mqtt://` or `tcp://` (TLS is not supported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    host: String,
    port: u16,
}

/// A broker address that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerAddressError {
    /// A scheme other than `mqtt://` or `tcp://`.
    #[error("broker address {0:?}: only mqtt:// and tcp:// (plain TCP) are supported")]
    Scheme(String),
    /// No host, or a port that is not 1 to 65535.
    #[error("broker address {0:?}: expected HOST[:PORT], with PORT from 1 to 65535")]
    Malformed(String),
}

impl BrokerAddress {
    /// Parses an address (the port defaults to 1883).
    pub fn parse(text: &str) -> Result<Self, BrokerAddressError> {
        let malformed = || BrokerAddressError::Malformed(text.to_owned());
        let rest = match text.split_once("://") {
            Some(("mqtt" | "tcp", rest)) => rest,
            Some(_) => return Err(BrokerAddressError::Scheme(text.to_owned())),
            None => text,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(malformed)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(malformed)?)),
            }
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        let port = match port {
            None => 1883,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(malformed)?,
        };
        if host.is_empty() || host.contains(['/', ' ', '@', '?']) {
            return Err(malformed());
        }
        Ok(BrokerAddress {
            host: host.to_owned(),
            port,
        })
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Why the simulated publisher stopped.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The client's event loop has stopped.
    #[error("failed to publish to the MQTT broker: {0}")]
    Client(#[from] rumqttc::ClientError),
}

/// Plays a portal pass as Zebra and/or Impinj tag events, and sensor telemetry, on an MQTT broker
/// (`firmware-bridge simulate --mqtt`). Messages are published with QoS 1; the client reconnects
/// by itself (with backoff) when the broker goes away.
#[derive(Debug, Clone)]
pub struct SimulatedPublisher {
    /// The broker.
    pub broker: BrokerAddress,
    /// The simulator's client id.
    pub client_id: String,
    /// Prefix of every topic.
    pub prefix: String,
    /// Topic of a simulated Zebra reader, if any.
    pub zebra_topic: Option<String>,
    /// Topic of a simulated Impinj reader, if any.
    pub impinj_topic: Option<String>,
    /// Topics of simulated sensors.
    pub sensor_topics: Vec<String>,
    /// Antenna port the readers report.
    pub antenna: u16,
    /// The pass to play (sorted by time), starting over every `loop_ms`.
    pub notices: Vec<TimedNotice>,
    /// Length of one pass, in milliseconds.
    pub loop_ms: u64,
    /// Tag reads seen within this many milliseconds go into one message.
    pub batch_ms: u64,
    /// Interval between two messages of each sensor.
    pub sensor_interval: Duration,
}

impl SimulatedPublisher {
    /// Publishes until cancelled.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), PublishError> {
        let mut options = MqttOptions::new(
            self.client_id.clone(),
            self.broker.host.clone(),
            self.broker.port,
        );
        options
            .set_keep_alive(KEEP_ALIVE)
            .set_max_packet_size(MAX_MESSAGE, MAX_MESSAGE);
        let (client, eventloop) = AsyncClient::new(options, CHANNEL);
        let stop_polling = CancellationToken::new();
        let poller = tokio::spawn(drive_publisher(eventloop, stop_polling.clone()));
        tracing::info!(host = %self.broker.host, port = self.broker.port, "simulated MQTT readers and sensors publishing");
        let result = tokio::select! {
            () = cancel.cancelled() => Ok(()),
            result = self.publish(&client) => result,
        };
        let _ = client.try_disconnect();
        // Give the event loop a moment to send what is queued and the DISCONNECT.
        let _ = tokio::time::timeout(Duration::from_secs(1), poller).await;
        stop_polling.cancel();
        result
    }

    async fn publish(&self, client: &AsyncClient) -> Result<(), PublishError> {
        let readers: Vec<(String, bool)> = self
            .zebra_topic
            .iter()
            .map(|topic| (format!("{}{topic}", self.prefix), true))
            .chain(
                self.impinj_topic
                    .iter()
                    .map(|topic| (format!("{}{topic}", self.prefix), false)),
            )
            .collect();
        let mut sensors: Vec<(String, SensorWalk)> = self
            .sensor_topics
            .iter()
            .enumerate()
            .map(|(index, topic)| {
                (
                    format!("{}{topic}", self.prefix),
                    SensorWalk::new(index as u64 + 1),
                )
            })
            .collect();
        let batch_ms = self.batch_ms.max(1);
        let loop_ms = self.loop_ms.max(batch_ms);
        let start = tokio::time::Instant::now();
        let mut next_sensor = start;
        let mut pass_start = start;
        let mut next = 0usize;
        let play_tags = !readers.is_empty() && !self.notices.is_empty();
        loop {
            // The end of the next window of tag reads, if any are played.
            let window_end = play_tags.then(|| {
                let first = self.notices[next].at_ms;
                (first - first % batch_ms + batch_ms).min(loop_ms)
            });
            let due = window_end.map(|end| pass_start + Duration::from_millis(end));
            let sensors_due = !sensors.is_empty();
            tokio::select! {
                () = sleep_until(due) => {
                    let end = window_end.unwrap_or(loop_ms);
                    let mut batch = Vec::new();
                    while next < self.notices.len() && self.notices[next].at_ms < end {
                        batch.push(&self.notices[next].notice);
                        next += 1;
                    }
                    // A notice exactly at the pass length belongs to this window too.
                    if end == loop_ms {
                        while next < self.notices.len() {
                            batch.push(&self.notices[next].notice);
                            next += 1;
                        }
                    }
                    let now = system_now();
                    for (topic, zebra) in &readers {
                        let payload = if *zebra {
                            zebra_tag_data(&batch, self.antenna, now)
                        } else {
                            impinj_tag_inventory(&batch, self.antenna, now)
                        };
                        client.publish(topic.as_str(), QoS::AtLeastOnce, false, payload).await?;
                    }
                    if next >= self.notices.len() {
                        next = 0;
                        pass_start += Duration::from_millis(loop_ms);
                    }
                }
                () = tokio::time::sleep_until(next_sensor), if sensors_due => {
                    let now = system_now();
                    for (topic, walk) in &mut sensors {
                        let payload = sensor_telemetry(now, &walk.next_readings());
                        client.publish(topic.as_str(), QoS::AtLeastOnce, false, payload).await?;
                    }
                    next_sensor += self.sensor_interval.max(Duration::from_millis(1));
                }
            }
        }
    }
}

async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Polls the publisher's event loop (which sends the publishes) until stopped, backing off after
/// connection errors.
async fn drive_publisher(mut eventloop: EventLoop, stop: CancellationToken) {
    let mut backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                tracing::info!("simulator connected to the MQTT broker");
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %error, delay_ms = delay.as_millis() as u64, "simulator's MQTT connection failed; reconnecting");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_parse_with_and_without_scheme_and_port() {
        let parse = |text| BrokerAddress::parse(text).map(|a| (a.host, a.port));
        assert_eq!(parse("127.0.0.1:1884"), Ok(("127.0.0.1".into(), 1884)));
        assert_eq!(parse("broker.local"), Ok(("broker.local".into(), 1883)));
        assert_eq!(parse("mqtt://broker:2000/"), Ok(("broker".into(), 2000)));
        assert_eq!(parse("tcp://[::1]:1883"), Ok(("::1".into(), 1883)));
        assert!(matches!(
            BrokerAddress::parse("mqtts://broker"),
            Err(BrokerAddressError::Scheme(_))
        ));
        for bad in ["", ":1883", "broker:0", "broker:99999", "broker:x", "[::1"] {
            assert!(
                matches!(
                    BrokerAddress::parse(bad),
                    Err(BrokerAddressError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_example_configuration_routes_its_impinj_reader_and_sensor_below_the_prefix() {
        let config = Config::from_toml(include_str!("../bridge.example.toml")).unwrap();
        let routes = routes(&config);
        let filters: Vec<&str> = routes.iter().map(Route::filter).collect();
        assert_eq!(
            filters,
            ["site-a/readers/line-1/events", "site-a/sensors/cold-room-1"]
        );
        assert!(
            matches!(routes[0].target(), Target::Impinj(reader) if reader.as_str() == "line-1")
        );
        assert_eq!(routes[1].label(), "sensors/cold-room-1");
    }

    #[test]
    fn a_sensor_message_decodes_to_an_event_with_gs1_measurements() {
        let config = Config::from_toml(include_str!("../bridge.example.toml")).unwrap();
        let routes = routes(&config);
        let payload =
            br#"{"time":"2026-11-22T03:00:00Z","readings":{"temperature":4.5,"battery":3.1}}"#;
        let Decoded::SensorEvents { events, unmapped } =
            decode(routes[1].target(), payload).unwrap()
        else {
            panic!("a sensor route yields sensor events")
        };
        assert_eq!(unmapped, ["battery"]);
        let event: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
        assert_eq!(
            event["sensorElementList"][0]["sensorReport"][0],
            serde_json::json!({"type": "Temperature", "value": 4.5, "uom": "CEL"})
        );
        assert!(decode(routes[1].target(), b"{\"time\":1}").is_err());
    }
}
