//! Building EPCIS 2.0 events from smoothed reads and sensor samples, and the capture document that
//! carries them to ingest.
//!
//! Bridge-specific data goes into namespaced extensions under the `tagtrail` prefix
//! ([`NAMESPACE`]), declared in every capture document's `@context`:
//!
//! ```json
//! "tagtrail:smoothing": {"tagtrail:transition": "arrival", "tagtrail:reader": "dock-door-3",
//!                        "tagtrail:cycleMs": 1000, "tagtrail:absenceMs": 5000,
//!                        "tagtrail:maxEpcsPerEvent": 500},
//! "tagtrail:tids": [{"tagtrail:epc": "urn:epc:id:sgtin:...", "tagtrail:tid": "E280..."}]
//! ```
//!
//! With `[sealing]`, [`seal_events`] replaces the configured ones of these fields with sealed
//! values (`ledger::sealed`) before the events are spooled.
//!
//! An arrival event carries the read point's action, bizStep, disposition and bizLocation. A
//! departure is an `OBSERVE` at the read point with neither bizStep, disposition nor bizLocation:
//! it says only that the tags were last seen there.

use ledger::sealed;
use serde_json::{Map, Value, json};

use crate::adapter::sensor::SensorSample;
use crate::config::{Sealing, SensorTopic};
use crate::read::{format_time, to_hex};
use crate::smoothing::{SmoothedEvent, Transition};

/// The JSON-LD prefix of the bridge's extensions.
pub const PREFIX: &str = "tagtrail";
/// The namespace IRI the prefix stands for.
pub const NAMESPACE: &str = "https://tagtrail.dev/ns/bridge#";
/// The standard EPCIS 2.0 JSON-LD context (owned by `epcis`).
pub use epcis::EPCIS_CONTEXT_URL as EPCIS_CONTEXT;

fn ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The ObjectEvent for a smoothed arrival or departure.
pub fn object_event(smoothed: &SmoothedEvent) -> Map<String, Value> {
    let point = &smoothed.read_point;
    let mut event = Map::new();
    event.insert("type".into(), json!("ObjectEvent"));
    event.insert("eventTime".into(), json!(format_time(smoothed.event_time)));
    event.insert("eventTimeZoneOffset".into(), json!("+00:00"));
    let epcs: Vec<Value> = smoothed.tags.iter().map(|tag| json!(tag.epc_uri)).collect();
    event.insert("epcList".into(), Value::Array(epcs));
    match smoothed.transition {
        Transition::Arrival => {
            event.insert("action".into(), json!(point.action.as_str()));
            if let Some(step) = &point.biz_step {
                event.insert("bizStep".into(), json!(step));
            }
            if let Some(disposition) = &point.disposition {
                event.insert("disposition".into(), json!(disposition));
            }
            event.insert("readPoint".into(), json!({"id": point.read_point.as_str()}));
            if let Some(location) = &point.biz_location {
                event.insert("bizLocation".into(), json!({"id": location.as_str()}));
            }
        }
        Transition::Departure => {
            event.insert("action".into(), json!("OBSERVE"));
            event.insert("readPoint".into(), json!({"id": point.read_point.as_str()}));
        }
    }
    let params = &smoothed.params;
    event.insert(
        format!("{PREFIX}:smoothing"),
        json!({
            "tagtrail:transition": smoothed.transition.as_str(),
            "tagtrail:reader": point.reader.as_str(),
            "tagtrail:cycleMs": ms(params.cycle()),
            "tagtrail:absenceMs": ms(params.absence()),
            "tagtrail:maxEpcsPerEvent": params.max_epcs_per_event(),
        }),
    );
    let tids: Vec<Value> = smoothed
        .tags
        .iter()
        .filter_map(|tag| {
            tag.tid
                .as_ref()
                .map(|tid| json!({"tagtrail:epc": tag.epc_uri, "tagtrail:tid": to_hex(tid)}))
        })
        .collect();
    if point.capture_tid && !tids.is_empty() {
        event.insert(format!("{PREFIX}:tids"), Value::Array(tids));
    }
    event
}

/// The ObjectEvent for one sensor sample: an `OBSERVE` at the sensor's read point with one sensor
/// element; `None` when none of the sample's readings is mapped.
pub fn sensor_event(topic: &SensorTopic, sample: &SensorSample) -> Option<Map<String, Value>> {
    if sample.reports.is_empty() {
        return None;
    }
    let time = format_time(sample.time);
    let mut metadata = Map::new();
    metadata.insert("time".into(), json!(time));
    if let Some(device) = &topic.device {
        metadata.insert("deviceID".into(), json!(device));
    }
    let reports: Vec<Value> = sample
        .reports
        .iter()
        .map(|report| {
            json!({
                "type": report.measurement.kind.as_str(),
                "value": report.value,
                "uom": report.measurement.uom.as_str(),
            })
        })
        .collect();
    let mut event = Map::new();
    event.insert("type".into(), json!("ObjectEvent"));
    event.insert("eventTime".into(), json!(time));
    event.insert("eventTimeZoneOffset".into(), json!("+00:00"));
    event.insert("epcList".into(), json!([]));
    event.insert("action".into(), json!("OBSERVE"));
    event.insert("bizStep".into(), json!("sensor_reporting"));
    event.insert("readPoint".into(), json!({"id": topic.read_point.as_str()}));
    if let Some(location) = &topic.biz_location {
        event.insert("bizLocation".into(), json!({"id": location.as_str()}));
    }
    event.insert(
        "sensorElementList".into(),
        json!([{"sensorMetadata": metadata, "sensorReport": reports}]),
    );
    Some(event)
}

/// The `@context` of every capture document the bridge sends: its own prefix and the sealed-field
/// vocabulary's (`ledger::sealed`), which names a sealed value's one member. A prefix no event
/// uses changes no event hash.
pub fn document_context() -> Value {
    json!([EPCIS_CONTEXT, {PREFIX: NAMESPACE, sealed::PREFIX: sealed::NAMESPACE}])
}

/// What sealing a tick's events did.
#[derive(Debug, Default)]
pub struct SealedEvents {
    /// Per event, the key set that opens its sealed values (standard base64: the part of the
    /// batch's key set that names them), `None` for an event with none.
    pub keys: Vec<Option<String>>,
    /// Values that could not be sealed (longer than `ledger::sealed::MAX_VALUE_LEN`): left out
    /// of their events, never kept in clear.
    pub left_out: usize,
}

/// Seals the fields `sealing` names in each of `events` that holds them, for its recipients, with
/// one batch key for them all (a new one after 65,535 values) (one HPKE encapsulation per recipient, drawn from `random`, the
/// operating system's generator; the values' salts and keys come from a key stream seeded from
/// it). Events holding none of the fields are left as they are, and no batch key is made when no
/// event holds one.
pub fn seal_events(
    events: &mut [Map<String, Value>],
    sealing: &Sealing,
    random: sealed::Random<'_>,
) -> Result<SealedEvents, sealed::SealError> {
    let mut batch: Option<(sealed::Sealer, sealed::KeyStream)> = None;
    let mut out = SealedEvents::default();
    for event in events.iter_mut() {
        // An event's values are sealed under one batch key: a fresh one when these might not fit.
        if batch
            .as_ref()
            .is_some_and(|(sealer, _)| sealer.len() + sealing.fields.len() > sealed::MAX_FIELD_KEYS)
        {
            batch = None;
        }
        // The event's values are the ones its batch seals from here on.
        let before = batch.as_ref().map_or(0, |(sealer, _)| sealer.len());
        for pointer in &sealing.fields {
            // The sealable fields are members at the event's top (`SEALABLE_FIELDS`).
            let name = pointer.trim_start_matches('/');
            if !event.contains_key(name) {
                continue;
            }
            let (sealer, stream) = match &mut batch {
                Some(batch) => batch,
                None => {
                    let sealer = sealed::Sealer::new(&sealing.recipients, &mut *random)?;
                    batch.insert((sealer, sealed::KeyStream::new(&mut *random)))
                }
            };
            let mut draw = |bytes: &mut [u8]| stream.fill(bytes);
            // Too long to seal (nothing was changed): left out, never kept in clear.
            if sealed::seal_event_fields(event, &[pointer.as_str()], Some(sealer), &mut draw)
                .is_err()
            {
                event.remove(name);
                out.left_out += 1;
            }
        }
        out.keys.push(
            batch
                .as_ref()
                .and_then(|(sealer, _)| sealer.key_set_since(before))
                .map(|part| part.to_base64()),
        );
    }
    Ok(out)
}

/// The CBV 2.0 hash of one event the bridge built (its JSON text), as ingest computes it inside a
/// capture document, whose `@context` is [`document_context`].
pub fn event_hash(event_json: &str) -> Result<epcis::EventHash, String> {
    let event: Map<String, Value> =
        serde_json::from_str(event_json).map_err(|error| error.to_string())?;
    let mut root = Map::new();
    root.insert("@context".into(), document_context());
    let context =
        epcis::hash::HashContext::from_document_root(&root).map_err(|error| error.to_string())?;
    epcis::hash::event_hash(&event, &context).map_err(|error| error.to_string())
}

/// An EPCIS 2.0 capture document holding `events` (in order), created at `created`.
pub fn capture_document(events: &[Map<String, Value>], created: ledger::UnixMillis) -> Value {
    json!({
        "@context": document_context(),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": format_time(created),
        "epcisBody": {"eventList": events},
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use epcis::document::{Action, Document};
    use ledger::UnixMillis;

    use super::*;
    use crate::adapter::sensor::{MeasurementMap, parse_telemetry};
    use crate::config::{Location, ReadPoint};
    use crate::read::ReaderId;
    use crate::smoothing::{SeenTag, SmoothingParams};

    /// A reader that reports an absurd TID (a faulty or lying upstream): the value is too long
    /// to seal, so it is left out of the event, never spooled in clear; the event's other
    /// sealed field and the next event are sealed as configured.
    #[test]
    fn a_value_too_long_to_seal_is_left_out_never_kept_in_clear() {
        // Reproducible test randomness.
        let mut generator = crate::simulator::Xorshift::new(0x5eed);
        let mut random = |bytes: &mut [u8]| generator.fill(bytes);
        let brand = sealed::RecipientSecret::generate(&mut random);
        let sealing = Sealing {
            fields: vec!["/tagtrail:tids".into(), "/tagtrail:smoothing".into()],
            recipients: vec![brand.public_key()],
        };
        let mut faulty = smoothed(Transition::Arrival);
        faulty.tags[0].tid = Some(Bytes::from(vec![0xAB; 10_000]));
        let mut events = vec![
            object_event(&faulty),
            object_event(&smoothed(Transition::Arrival)),
            object_event(&smoothed(Transition::Departure)),
        ];
        let sealed = seal_events(&mut events, &sealing, &mut random).unwrap();
        assert_eq!(sealed.left_out, 1);
        let first = Value::Object(events[0].clone()).to_string();
        assert!(
            !first.contains("ABAB") && !first.contains("abab"),
            "{first}"
        );
        assert!(events[0].get("tagtrail:tids").is_none());
        let parts: Vec<sealed::KeySet> = sealed
            .keys
            .iter()
            .map(|part| sealed::KeySet::parse_base64(part.as_deref().unwrap()).unwrap())
            .collect();
        // The first event keeps its smoothing, sealed; the other two both fields; all under one
        // batch key.
        let counts: Vec<usize> = parts.iter().map(|part| part.field_keys().len()).collect();
        assert_eq!(counts, [1, 2, 2]);
        assert_eq!(sealed::KeySet::join(parts).len(), 1);
        for event in &events {
            for at in sealed::sealed_fields(event) {
                assert!(at.field.unwrap().is_encrypted());
            }
        }
    }

    fn smoothed(transition: Transition) -> SmoothedEvent {
        SmoothedEvent {
            read_point: ReadPoint {
                reader: ReaderId::parse("dock-door-3").unwrap(),
                antenna: Some(1),
                read_point: Location::parse("urn:epc:id:sgln:0614141.00777.0").unwrap(),
                biz_location: Some(Location::parse("urn:epc:id:sgln:0614141.00888.0").unwrap()),
                biz_step: Some("receiving".into()),
                disposition: Some("in_progress".into()),
                action: Action::Observe,
                capture_tid: true,
            },
            transition,
            event_time: UnixMillis::from_millis(1_763_780_645_123),
            tags: vec![
                SeenTag {
                    epc_uri: "urn:epc:id:sgtin:0614141.812345.6789".into(),
                    tid: Some(Bytes::from_static(&[0xE2, 0x80])),
                },
                SeenTag {
                    epc_uri: "urn:epc:id:sgtin:0614141.812345.6790".into(),
                    tid: None,
                },
            ],
            params: SmoothingParams::new(Duration::from_secs(1), Duration::from_secs(5), 500)
                .unwrap(),
        }
    }

    fn validate(events: &[Map<String, Value>]) {
        let document = capture_document(events, UnixMillis::from_millis(1_763_780_646_000));
        let bytes = serde_json::to_vec(&document).unwrap();
        let parsed = Document::parse(&bytes).unwrap();
        if let Err(violations) = epcis::validate::validate(&parsed) {
            panic!("{violations:#?}");
        }
        epcis::hash::parsed_document_hashes(&parsed).unwrap();
    }

    #[test]
    fn an_arrival_event_carries_the_read_points_meaning_and_validates() {
        let event = object_event(&smoothed(Transition::Arrival));
        assert_eq!(event["bizStep"], "receiving");
        assert_eq!(
            event["bizLocation"]["id"],
            "urn:epc:id:sgln:0614141.00888.0"
        );
        assert_eq!(event["tagtrail:tids"][0]["tagtrail:tid"], "E280");
        assert_eq!(event["tagtrail:smoothing"]["tagtrail:cycleMs"], 1000);
        assert_eq!(event["eventTime"], "2025-11-22T03:04:05.123Z");
        validate(&[event]);
    }

    #[test]
    fn the_hash_of_one_event_is_the_one_ingest_computes_in_the_capture_document() {
        let events = [
            object_event(&smoothed(Transition::Arrival)),
            object_event(&smoothed(Transition::Departure)),
        ];
        let document = capture_document(&events, UnixMillis::from_millis(1_763_780_646_000));
        let in_document: Vec<epcis::EventHash> = epcis::hash::document_hashes(&document)
            .unwrap()
            .into_iter()
            .map(|(_, hash)| hash)
            .collect();
        let alone: Vec<epcis::EventHash> = events
            .iter()
            .map(|event| event_hash(&Value::Object(event.clone()).to_string()).unwrap())
            .collect();
        assert_eq!(alone, in_document);
        // The extensions are hashed under their namespace: without the context the hash differs.
        let bare = epcis::hash::event_hash(&events[0], &epcis::hash::HashContext::default());
        assert!(bare.map_or(true, |hash| hash != alone[0]));
        assert!(event_hash("{not json").is_err());
    }

    #[test]
    fn a_departure_event_is_a_plain_observation_and_validates() {
        let event = object_event(&smoothed(Transition::Departure));
        assert_eq!(event["action"], "OBSERVE");
        assert!(event.get("bizStep").is_none() && event.get("bizLocation").is_none());
        validate(&[event]);
    }

    #[test]
    fn a_sensor_sample_becomes_a_validating_sensor_event() {
        let topic = SensorTopic {
            topic: "sensors/cold-room-1".into(),
            read_point: Location::parse("urn:epc:id:sgln:0614141.00999.0").unwrap(),
            biz_location: None,
            device: Some("urn:epc:id:giai:0614141.1001".into()),
            measurements: MeasurementMap::standard(),
        };
        let payload =
            br#"{"time":"2026-11-22T03:00:00Z","readings":{"temperature":4.5,"humidity":60}}"#;
        let sample = &parse_telemetry(&topic.measurements, payload).unwrap()[0];
        let event = sensor_event(&topic, sample).unwrap();
        let report = &event["sensorElementList"][0]["sensorReport"];
        assert_eq!(report[1]["type"], "Temperature");
        assert_eq!(report[1]["uom"], "CEL");
        validate(&[event]);
    }
}
