//! The bridge's metrics (official `prometheus-client`, text exposition) and the small HTTP endpoint
//! that serves them at `GET /metrics`.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `firmware_bridge_reads_total` | counter | `reader`, `outcome` (`arrived`, `refreshed`, `undecodable`, `no_read_point`) |
//! | `firmware_bridge_frames_total` | counter | `reader` (frames that passed their checks) |
//! | `firmware_bridge_frames_rejected_total` | counter | `reader`, `reason` (`checksum`, `malformed`) |
//! | `firmware_bridge_events_built_total` | counter | `transition` (`arrival`, `departure`, `sensor`) |
//! | `firmware_bridge_tags_present` | gauge | | (tags the smoother holds as present at any read point: each departs after `absence`) |
//! | `firmware_bridge_mqtt_messages_total` | counter | `topic` (configured, without the prefix), `outcome` (`accepted`, `rejected`) |
//! | `firmware_bridge_spool_depth_events` | gauge | |
//! | `firmware_bridge_spool_max_events` | gauge | | (the configured `[spool] max_events`: at it, new events are refused) |
//! | `firmware_bridge_spool_bytes` | gauge | | (the spool's size on disk: database file, WAL and its index) |
//! | `firmware_bridge_spool_oldest_age_seconds` | gauge | |
//! | `firmware_bridge_spool_refused_total` | counter | (events refused because the spool was full) |
//! | `firmware_bridge_upload_events_total` | counter | `outcome` (`uploaded`, `quarantined`) |
//! | `firmware_bridge_upload_failures_total` | counter | |
//! | `firmware_bridge_upload_duration_seconds` | histogram | |
//!
//! Reader ids and MQTT topics come from the configuration, so every label set is bounded.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::serial::SerialCounters;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabels {
    reader: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReaderLabels {
    reader: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    reader: String,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    transition: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// A serial reader's counters and the values already exported (frames, checksum, malformed).
type WatchedSerial = (Arc<SerialCounters>, [u64; 4]);

/// Every metric of the bridge.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reads: Family<ReadLabels, Counter>,
    frames: Family<ReaderLabels, Counter>,
    frames_rejected: Family<RejectLabels, Counter>,
    serial_reconnects: Family<ReaderLabels, Counter>,
    events_built: Family<TransitionLabels, Counter>,
    tags_present: Gauge,
    mqtt_messages: Family<TopicLabels, Counter>,
    spool_depth: Gauge,
    spool_max: Gauge,
    spool_bytes: Gauge,
    spool_oldest_age: Gauge,
    spool_refused: Counter,
    upload_events: Family<OutcomeLabels, Counter>,
    upload_failures: Counter,
    upload_duration: Histogram,
    serial: Mutex<HashMap<String, WatchedSerial>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric registered (at zero).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("firmware_bridge");
        let reads = Family::<ReadLabels, Counter>::default();
        registry.register(
            "reads",
            "Tag reads taken in, by reader and outcome",
            reads.clone(),
        );
        let frames = Family::<ReaderLabels, Counter>::default();
        registry.register(
            "frames",
            "Serial frames that passed their checks",
            frames.clone(),
        );
        let frames_rejected = Family::<RejectLabels, Counter>::default();
        registry.register(
            "frames_rejected",
            "Serial frames rejected, by reader and reason",
            frames_rejected.clone(),
        );
        let serial_reconnects = Family::<ReaderLabels, Counter>::default();
        registry.register(
            "serial_reconnects",
            "Serial sessions that failed (port missing or lost) and were retried, by reader",
            serial_reconnects.clone(),
        );
        let events_built = Family::<TransitionLabels, Counter>::default();
        registry.register(
            "events_built",
            "EPCIS events built, by transition",
            events_built.clone(),
        );
        let tags_present = Gauge::default();
        registry.register(
            "tags_present",
            "Tags held as present at any read point",
            tags_present.clone(),
        );
        let mqtt_messages = Family::<TopicLabels, Counter>::default();
        registry.register(
            "mqtt_messages",
            "MQTT messages from readers and sensors, by configured topic and outcome",
            mqtt_messages.clone(),
        );
        let spool_depth = Gauge::default();
        registry.register_with_unit(
            "spool_depth",
            "Events waiting in the spool",
            Unit::Other("events".into()),
            spool_depth.clone(),
        );
        let spool_max = Gauge::default();
        registry.register_with_unit(
            "spool_max",
            "Events the spool holds at most ([spool] max_events); beyond, new events are refused",
            Unit::Other("events".into()),
            spool_max.clone(),
        );
        let spool_bytes = Gauge::default();
        registry.register_with_unit(
            "spool",
            "Size of the spool on disk (database file, write-ahead log and its index)",
            Unit::Bytes,
            spool_bytes.clone(),
        );
        let spool_oldest_age = Gauge::default();
        registry.register_with_unit(
            "spool_oldest_age",
            "Age of the oldest spooled event",
            Unit::Seconds,
            spool_oldest_age.clone(),
        );
        let spool_refused = Counter::default();
        registry.register(
            "spool_refused",
            "Events refused because the spool was full",
            spool_refused.clone(),
        );
        let upload_events = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "upload_events",
            "Events that left the spool, by outcome",
            upload_events.clone(),
        );
        let upload_failures = Counter::default();
        registry.register(
            "upload_failures",
            "Upload attempts that failed and will be retried",
            upload_failures.clone(),
        );
        let upload_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register_with_unit(
            "upload_duration",
            "Duration of one upload request",
            Unit::Seconds,
            upload_duration.clone(),
        );
        Metrics {
            registry,
            reads,
            frames,
            frames_rejected,
            serial_reconnects,
            events_built,
            tags_present,
            mqtt_messages,
            spool_depth,
            spool_max,
            spool_bytes,
            spool_oldest_age,
            spool_refused,
            upload_events,
            upload_failures,
            upload_duration,
            serial: Mutex::new(HashMap::new()),
        }
    }

    /// How many tags are present now.
    pub fn tags_present(&self, count: usize) {
        self.tags_present
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts one read's outcome.
    pub fn read(&self, reader: &str, outcome: &'static str) {
        self.reads
            .get_or_create(&ReadLabels {
                reader: reader.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts a built event.
    pub fn event_built(&self, transition: &'static str) {
        self.events_built
            .get_or_create(&TransitionLabels { transition })
            .inc();
    }

    /// Exposes an MQTT topic's message counters (at zero) before its first message.
    pub fn watch_mqtt_topic(&self, topic: &str) {
        for outcome in ["accepted", "rejected"] {
            self.mqtt_message(topic, outcome, 0);
        }
    }

    /// Counts MQTT messages on a configured topic: `accepted` (an adapter parsed them) or
    /// `rejected` (an adapter refused them).
    pub fn mqtt_message(&self, topic: &str, outcome: &'static str, count: u64) {
        self.mqtt_messages
            .get_or_create(&TopicLabels {
                topic: topic.to_owned(),
                outcome,
            })
            .inc_by(count);
    }

    /// Records the spool's state.
    pub fn spool(&self, depth: u64, oldest_age_seconds: u64, refused: u64) {
        self.spool_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.spool_oldest_age
            .set(i64::try_from(oldest_age_seconds).unwrap_or(i64::MAX));
        self.spool_refused.inc_by(refused);
    }

    /// Records the spool's limit (`[spool] max_events`).
    pub fn spool_max(&self, max_events: u64) {
        self.spool_max
            .set(i64::try_from(max_events).unwrap_or(i64::MAX));
    }

    /// Records the spool's size on disk.
    pub fn spool_bytes(&self, bytes: u64) {
        self.spool_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Records one upload attempt.
    pub fn upload(&self, seconds: f64, uploaded: u64, quarantined: u64, failed: bool) {
        self.upload_duration.observe(seconds);
        self.upload_events
            .get_or_create(&OutcomeLabels {
                outcome: "uploaded",
            })
            .inc_by(uploaded);
        self.upload_events
            .get_or_create(&OutcomeLabels {
                outcome: "quarantined",
            })
            .inc_by(quarantined);
        if failed {
            self.upload_failures.inc();
        }
    }

    /// Follows a serial reader's decoder counters (read at every scrape).
    pub fn watch_serial(&self, reader: &str, counters: Arc<SerialCounters>) {
        // Create the series now, so it is exposed (at zero) before the first frame.
        self.frames
            .get_or_create(&ReaderLabels {
                reader: reader.to_owned(),
            })
            .inc_by(0);
        if let Ok(mut serial) = self.serial.lock() {
            serial.insert(reader.to_owned(), (counters, [0; 4]));
        }
    }

    fn sync_serial(&self) {
        let Ok(mut serial) = self.serial.lock() else {
            return;
        };
        for (reader, (counters, seen)) in serial.iter_mut() {
            let now = [
                counters.frames.load(Ordering::Relaxed),
                counters.checksum_failures.load(Ordering::Relaxed),
                counters.malformed.load(Ordering::Relaxed),
                counters.reconnects.load(Ordering::Relaxed),
            ];
            self.frames
                .get_or_create(&ReaderLabels {
                    reader: reader.clone(),
                })
                .inc_by(now[0] - seen[0]);
            self.frames_rejected
                .get_or_create(&RejectLabels {
                    reader: reader.clone(),
                    reason: "checksum",
                })
                .inc_by(now[1] - seen[1]);
            self.frames_rejected
                .get_or_create(&RejectLabels {
                    reader: reader.clone(),
                    reason: "malformed",
                })
                .inc_by(now[2] - seen[2]);
            self.serial_reconnects
                .get_or_create(&ReaderLabels {
                    reader: reader.clone(),
                })
                .inc_by(now[3] - seen[3]);
            *seen = now;
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        self.sync_serial();
        // Writing into a String cannot fail.
        service_kit::metrics::text(&self.registry).unwrap_or_default()
    }
}

/// Serves `GET /metrics` on `listener` until cancelled.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, cancel: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut request = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
                    .await
                {
                    Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let response = if request.starts_with(b"GET /metrics ") {
                let body = metrics.render();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    service_kit::metrics::CONTENT_TYPE,
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            };
            if let Err(error) = stream.write_all(response.as_bytes()).await {
                tracing::debug!(error = %error, "failed to answer a metrics request");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_metric_is_exposed() {
        let metrics = Metrics::new();
        metrics.read("dock-door-3", "arrived");
        metrics.event_built("arrival");
        metrics.spool(3, 10, 0);
        metrics.spool_max(1_000);
        metrics.spool_bytes(4096);
        metrics.upload(0.02, 5, 0, false);
        metrics.watch_mqtt_topic("sensors/cold-room-1");
        metrics.mqtt_message("sensors/cold-room-1", "rejected", 1);
        let serial = Arc::new(SerialCounters::default());
        serial.checksum_failures.fetch_add(2, Ordering::Relaxed);
        metrics.watch_serial("dock-door-3", serial);
        let text = metrics.render();
        for name in [
            "firmware_bridge_reads_total{reader=\"dock-door-3\",outcome=\"arrived\"} 1",
            "firmware_bridge_frames_total",
            "firmware_bridge_frames_rejected_total{reader=\"dock-door-3\",reason=\"checksum\"} 2",
            "firmware_bridge_events_built_total{transition=\"arrival\"} 1",
            "firmware_bridge_mqtt_messages_total{topic=\"sensors/cold-room-1\",outcome=\"accepted\"} 0",
            "firmware_bridge_mqtt_messages_total{topic=\"sensors/cold-room-1\",outcome=\"rejected\"} 1",
            "firmware_bridge_spool_depth_events 3",
            "firmware_bridge_spool_max_events 1000",
            "firmware_bridge_spool_bytes 4096",
            "firmware_bridge_spool_oldest_age_seconds 10",
            "firmware_bridge_spool_refused_total 0",
            "firmware_bridge_upload_events_total{outcome=\"uploaded\"} 5",
            "firmware_bridge_upload_failures_total 0",
            "firmware_bridge_upload_duration_seconds_count 1",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
