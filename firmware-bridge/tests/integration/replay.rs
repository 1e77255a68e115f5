//! Replays a recorded dock-door pass (1,700 tags, the source's figure, each reported many times)
//! from serial bytes to EPCIS events: deterministic, every tag in exactly one arrival and one
//! departure, every event valid EPCIS 2.0.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::BytesMut;
use epcis::document::{Action, Document};
use firmware_bridge::codec::jrd::{JrdCodec, JrdMessage};
use firmware_bridge::config::{Location, ReadPoint, ReadPoints};
use firmware_bridge::event::{capture_document, object_event};
use firmware_bridge::read::{ReaderId, TagRead};
use firmware_bridge::simulator::{TagPopulation, portal_pass};
use firmware_bridge::smoothing::{
    ReadOutcome, SmoothedEvent, Smoother, SmoothingParams, Transition,
};
use ledger::UnixMillis;
use tokio_util::codec::Decoder;

const START: u64 = 1_795_000_000_000;

fn read_points() -> ReadPoints {
    ReadPoints::new(vec![ReadPoint {
        reader: ReaderId::parse("dock-door-3").unwrap(),
        antenna: None,
        read_point: Location::parse("urn:epc:id:sgln:0614141.00777.0").unwrap(),
        biz_location: Some(Location::parse("urn:epc:id:sgln:0614141.00888.0").unwrap()),
        biz_step: Some("receiving".into()),
        disposition: Some("in_progress".into()),
        action: Action::Observe,
        capture_tid: false,
    }])
}

/// Serial bytes -> decoder -> reads -> smoother, advancing time every 100 ms of the recording.
fn replay() -> (Vec<SmoothedEvent>, usize) {
    let population = TagPopulation::sgtin96(1_700, 10_000);
    let recording = portal_pass(&population, 3_000, 6, 7);
    let params = SmoothingParams::new(
        Duration::from_millis(1_000),
        Duration::from_millis(2_000),
        500,
    )
    .unwrap();
    let mut smoother = Smoother::new(params, &read_points());
    let mut codec = JrdCodec::new();
    let reader = ReaderId::parse("dock-door-3").unwrap();
    let mut events = Vec::new();
    let mut undecodable = 0;
    for timed in &recording {
        let mut bytes = BytesMut::new();
        timed.notice.to_frame().encode_into(&mut bytes);
        while let Some(message) = codec.decode(&mut bytes).unwrap() {
            let JrdMessage::TagNotice(notice) = message else {
                panic!("not a notice: {message:?}")
            };
            let read = TagRead {
                reader: reader.clone(),
                antenna: 1,
                epc: notice.epc().clone(),
                tid: None,
                rssi_centi_dbm: Some(i32::from(notice.rssi_dbm()) * 100),
                seen_at: UnixMillis::from_millis(START + timed.at_ms),
            };
            if let ReadOutcome::Undecodable { .. } = smoother.push(&read, &mut events) {
                undecodable += 1;
            }
        }
    }
    for step in 0..=100 {
        smoother.advance(
            UnixMillis::from_millis(START + 3_000 + step * 100),
            &mut events,
        );
    }
    assert_eq!(codec.stats().frames as usize, recording.len());
    (events, undecodable)
}

#[test]
fn a_recorded_dock_door_pass_replays_to_the_same_events() {
    let (first, _) = replay();
    let (second, _) = replay();
    assert_eq!(first, second);
}

#[test]
fn every_tag_of_the_pass_arrives_once_and_departs_once_in_valid_events() {
    let (events, undecodable) = replay();
    assert_eq!(undecodable, 0);
    let mut arrived = BTreeSet::new();
    let mut departed = BTreeSet::new();
    for event in &events {
        assert!(event.tags.len() <= 500, "an event over the maximum");
        let set = if event.transition == Transition::Arrival {
            &mut arrived
        } else {
            &mut departed
        };
        for tag in &event.tags {
            assert!(
                set.insert(tag.epc_uri.clone()),
                "{} reported twice",
                tag.epc_uri
            );
        }
    }
    assert_eq!(arrived.len(), 1_700);
    assert_eq!(arrived, departed);
    assert!(arrived.contains("urn:epc:id:sgtin:0614141.812345.10000"));

    let built: Vec<_> = events.iter().map(object_event).collect();
    let document = capture_document(&built, UnixMillis::from_millis(START + 20_000));
    let parsed = Document::parse(&serde_json::to_vec(&document).unwrap()).unwrap();
    if let Err(violations) = epcis::validate::validate(&parsed) {
        panic!("{violations:#?}");
    }
}
