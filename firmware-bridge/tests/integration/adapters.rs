//! Property tests of the MQTT JSON adapters: what a reader publishes comes out as the same reads,
//! and no payload makes an adapter panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use firmware_bridge::adapter::sensor::{MeasurementMap, parse_telemetry};
use firmware_bridge::adapter::{impinj, zebra};
use firmware_bridge::read::{ReaderId, format_time, to_hex};
use ledger::UnixMillis;
use proptest::prelude::*;
use serde_json::json;

fn reader() -> ReaderId {
    ReaderId::parse("reader-1").unwrap()
}

fn tag() -> impl Strategy<Value = (Vec<u8>, Option<Vec<u8>>, u16, i16, u64)> {
    (
        proptest::collection::vec(any::<u8>(), 2..32),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 4..16)),
        1u16..=64,
        -9000i16..0,
        0u64..4_102_444_800_000,
    )
}

proptest! {
    #[test]
    fn a_zebra_event_comes_out_as_the_read_it_describes(tags in proptest::collection::vec(tag(), 1..6), lower in any::<bool>()) {
        let events: Vec<_> = tags.iter().map(|(epc, tid, antenna, rssi, at)| {
            let hex = if lower { to_hex(epc).to_lowercase() } else { to_hex(epc) };
            let mut data = json!({"idHex": hex, "antenna": antenna, "peakRssi": rssi / 100, "format": "epc"});
            if let Some(tid) = tid {
                data["TID"] = json!(to_hex(tid));
            }
            json!({"type": "SIMPLE", "timestamp": format_time(UnixMillis::from_millis(*at)), "data": data})
        }).collect();
        let reads = zebra::parse_tag_data(&reader(), json!(events).to_string().as_bytes()).unwrap();
        prop_assert_eq!(reads.len(), tags.len());
        for (read, (epc, tid, antenna, rssi, at)) in reads.iter().zip(&tags) {
            prop_assert_eq!(&read.epc[..], &epc[..]);
            prop_assert_eq!(read.tid.as_deref(), tid.as_deref());
            prop_assert_eq!(read.antenna, *antenna);
            prop_assert_eq!(read.rssi_centi_dbm, Some(i32::from(rssi / 100) * 100));
            prop_assert_eq!(read.seen_at.as_millis(), *at);
        }
    }

    #[test]
    fn an_impinj_event_comes_out_as_the_read_it_describes((epc, tid, antenna, rssi, at) in tag()) {
        let mut inner = json!({"epcHex": to_hex(&epc), "antennaPort": antenna, "peakRssiCdbm": rssi,
                               "lastSeenTime": format_time(UnixMillis::from_millis(at))});
        if let Some(tid) = &tid {
            inner["tidHex"] = json!(to_hex(tid));
        }
        let event = json!({"timestamp": "2030-01-01T00:00:00Z", "eventType": "tagInventory", "tagInventoryEvent": inner});
        let reads = impinj::parse_tag_inventory(&reader(), event.to_string().as_bytes()).unwrap();
        prop_assert_eq!(reads.len(), 1);
        prop_assert_eq!(&reads[0].epc[..], &epc[..]);
        prop_assert_eq!(reads[0].tid.as_deref(), tid.as_deref());
        prop_assert_eq!(reads[0].antenna, antenna);
        prop_assert_eq!(reads[0].rssi_centi_dbm, Some(i32::from(rssi)));
        prop_assert_eq!(reads[0].seen_at.as_millis(), at);
    }

    #[test]
    fn a_telemetry_message_keeps_every_value(temperature in -80.0f64..80.0, humidity in 0.0f64..100.0, at in 0u64..4_102_444_800_000) {
        let payload = json!({"time": format_time(UnixMillis::from_millis(at)), "readings": {"temperature": temperature, "humidity": humidity}});
        let samples = parse_telemetry(&MeasurementMap::standard(), payload.to_string().as_bytes()).unwrap();
        prop_assert_eq!(samples[0].time.as_millis(), at);
        let values: Vec<f64> = samples[0].reports.iter().map(|report| report.value).collect();
        prop_assert_eq!(values, vec![humidity, temperature]);
    }

    #[test]
    fn no_payload_makes_an_adapter_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = zebra::parse_tag_data(&reader(), &bytes);
        let _ = impinj::parse_tag_inventory(&reader(), &bytes);
        let _ = parse_telemetry(&MeasurementMap::standard(), &bytes);
    }

    #[test]
    fn no_json_shape_makes_an_adapter_panic(
        keys in proptest::collection::vec(prop_oneof![
            Just("timestamp"), Just("data"), Just("idHex"), Just("antenna"), Just("eventType"),
            Just("tagInventoryEvent"), Just("epcHex"), Just("antennaPort"), Just("time"), Just("readings"),
            Just("TID"), Just("peakRssi"), Just("peakRssiCdbm"), Just("lastSeenTime"), Just("temperature"),
        ], 0..8),
        values in proptest::collection::vec(prop_oneof![
            Just(json!(null)), Just(json!(1)), Just(json!(-1)), Just(json!(1e300)), Just(json!("AAAA")),
            Just(json!("tagInventory")), Just(json!("2020-01-01T00:00:00Z")), Just(json!({})), Just(json!([])),
            Just(json!(70000)), Just(json!("zz")),
        ], 0..8),
        nest in any::<bool>(),
    ) {
        let mut object = serde_json::Map::new();
        for (key, value) in keys.iter().zip(values) {
            object.insert((*key).to_owned(), value);
        }
        let inner = serde_json::Value::Object(object.clone());
        if nest {
            object.insert("data".into(), inner.clone());
            object.insert("tagInventoryEvent".into(), inner.clone());
            object.insert("readings".into(), inner);
        }
        let payload = serde_json::Value::Object(object).to_string();
        let _ = zebra::parse_tag_data(&reader(), payload.as_bytes());
        let _ = impinj::parse_tag_inventory(&reader(), payload.as_bytes());
        let _ = parse_telemetry(&MeasurementMap::standard(), payload.as_bytes());
    }
}
