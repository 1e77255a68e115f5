//! The firmware bridge's MQTT JSON adapters (Zebra tag data events, Impinj tag inventory events,
//! sensor telemetry) and the events built from telemetry: arbitrary payloads must never panic, and
//! every sensor event built from an accepted payload must be valid EPCIS 2.0.
#![no_main]

use firmware_bridge::adapter::sensor::{MeasurementMap, parse_telemetry};
use firmware_bridge::adapter::{impinj, zebra};
use firmware_bridge::config::{Location, SensorTopic};
use firmware_bridge::read::ReaderId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reader = ReaderId::parse("fuzz-reader").expect("a valid id");
    let _ = zebra::parse_tag_data(&reader, data);
    let _ = impinj::parse_tag_inventory(&reader, data);
    let topic = SensorTopic {
        topic: "fuzz".into(),
        read_point: Location::parse("urn:epc:id:sgln:0614141.00777.0").expect("a valid SGLN"),
        biz_location: None,
        device: None,
        measurements: MeasurementMap::standard(),
    };
    if let Ok(samples) = parse_telemetry(&topic.measurements, data) {
        for sample in samples {
            if let Some(event) = firmware_bridge::event::sensor_event(&topic, &sample) {
                let document = firmware_bridge::event::capture_document(&[event], sample.time);
                let bytes = serde_json::to_vec(&document).expect("serialises");
                let parsed =
                    epcis::document::Document::parse(&bytes).expect("a built document parses");
                assert!(
                    epcis::validate::validate(&parsed).is_ok(),
                    "a built sensor event is invalid"
                );
            }
        }
    }
});
