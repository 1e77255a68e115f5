//! Hot paths of the firmware bridge, each against a baseline measured in the same run:
//! - `jrd_decode/*`: JRD-4035 tag notices (96-bit EPCs) decoded from a serial byte stream, against
//!   summing the same bytes (the floor of touching every byte once). Target: ≥ 1,000,000 frames/s
//!   on one core;
//! - `ru5102_decode/*`: CF-RU5102 inventory frames (CRC-16 checked), against the same baseline;
//! - `smoothing/*`: reads pushed through the smoother for a 1,700-tag dock-door pass, against
//!   inserting the same EPCs into a `HashSet` (the floor of de-duplicating them).
//!
//! Run: `cargo bench -p tagtrail-bench --bench bridge`; `scripts/bench` prints the ratios.
#![allow(clippy::expect_used)] // fixed, valid set-up values: a failure is a broken benchmark

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use epcis::document::Action;
use firmware_bridge::codec::jrd::{JrdCodec, JrdMessage};
use firmware_bridge::codec::ru5102::{Inventory, InventoryStatus, Ru5102Codec};
use firmware_bridge::config::{Location, ReadPoint, ReadPoints};
use firmware_bridge::read::{ReaderId, TagRead};
use firmware_bridge::simulator::{TagPopulation, notice_bytes, portal_pass};
use firmware_bridge::smoothing::{Smoother, SmoothingParams};
use ledger::UnixMillis;
use tokio_util::codec::Decoder;

const FRAMES: usize = 10_000;

fn sum_bytes(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |sum, byte| sum.wrapping_add(u64::from(*byte)))
}

fn jrd_decode(c: &mut Criterion) {
    let population = TagPopulation::sgtin96(FRAMES, 1);
    let notices = portal_pass(&population, 3_000, 1, 11);
    let stream = notice_bytes(&notices);
    let mut group = c.benchmark_group("jrd_decode");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("baseline_sum_bytes", |b| {
        b.iter(|| sum_bytes(black_box(&stream)))
    });
    group.bench_function("decode_notices", |b| {
        b.iter(|| {
            let mut codec = JrdCodec::new();
            let mut buf = BytesMut::from(&stream[..]);
            let mut count = 0usize;
            while let Ok(Some(message)) = codec.decode(&mut buf) {
                if let JrdMessage::TagNotice(notice) = message {
                    count += notice.epc().len();
                }
            }
            assert_eq!(count, FRAMES * 12);
            count
        })
    });
    group.finish();
}

fn ru5102_decode(c: &mut Criterion) {
    let mut stream = BytesMut::new();
    let population = TagPopulation::sgtin96(FRAMES, 1);
    for epc in population.epcs() {
        let inventory = Inventory {
            status: InventoryStatus::Complete,
            epcs: vec![epc.clone()],
        };
        inventory
            .to_frame(0)
            .expect("one 12-byte EPC fits a frame")
            .encode_into(&mut stream);
    }
    let stream: Bytes = stream.freeze();
    let mut group = c.benchmark_group("ru5102_decode");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("baseline_sum_bytes", |b| {
        b.iter(|| sum_bytes(black_box(&stream)))
    });
    group.bench_function("decode_inventory_frames", |b| {
        b.iter(|| {
            let mut codec = Ru5102Codec::default();
            let mut buf = BytesMut::from(&stream[..]);
            let mut tags = 0usize;
            while let Ok(Some(frame)) = codec.decode(&mut buf) {
                if let Some(Ok(inventory)) = frame
                    .response()
                    .ok()
                    .and_then(|response| response.inventory())
                {
                    tags += inventory.epcs.len();
                }
            }
            assert_eq!(tags, FRAMES);
            tags
        })
    });
    group.finish();
}

fn smoothing(c: &mut Criterion) {
    let reader = ReaderId::parse("dock-door-3").expect("a valid id");
    let points = ReadPoints::new(vec![ReadPoint {
        reader: reader.clone(),
        antenna: None,
        read_point: Location::parse("urn:epc:id:sgln:0614141.00777.0").expect("a valid SGLN"),
        biz_location: None,
        biz_step: Some("receiving".into()),
        disposition: None,
        action: Action::Observe,
        capture_tid: false,
    }]);
    let params = SmoothingParams::new(
        Duration::from_millis(1_000),
        Duration::from_millis(2_000),
        500,
    )
    .expect("valid");
    let population = TagPopulation::sgtin96(1_700, 1);
    let reads: Vec<TagRead> = portal_pass(&population, 3_000, 6, 5)
        .into_iter()
        .map(|timed| TagRead {
            reader: reader.clone(),
            antenna: 1,
            epc: timed.notice.epc().clone(),
            tid: None,
            rssi_centi_dbm: None,
            seen_at: UnixMillis::from_millis(1_000_000 + timed.at_ms),
        })
        .collect();
    let mut group = c.benchmark_group("smoothing");
    group.throughput(Throughput::Elements(reads.len() as u64));
    group.bench_function("baseline_hashset_dedup", |b| {
        b.iter(|| {
            let mut seen = HashSet::new();
            for read in black_box(&reads) {
                seen.insert(read.epc.clone());
            }
            seen.len()
        })
    });
    group.bench_function("smooth_dock_door_pass", |b| {
        b.iter(|| {
            let mut smoother = Smoother::new(params, &points);
            let mut events = Vec::new();
            for read in black_box(&reads) {
                smoother.push(read, &mut events);
            }
            smoother.advance(UnixMillis::from_millis(1_010_000), &mut events);
            events.len()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = jrd_decode, ru5102_decode, smoothing
}
criterion_main!(benches);
