//! Hot paths of the `epcis` crate, each against a baseline measured in the same run:
//! - `event_pipeline/*`: parse + validate + CBV 2.0 hash of realistic ObjectEvents, against
//!   `serde_json` parsing the same bytes into a `Value` (the floor any JSON-reading path pays);
//! - `tds_decode/*`: SGTIN-96 decoding from the EPC bank bytes, against copying the 12 bytes.
//!
//! Run: `cargo bench -p tagtrail-bench --bench epcis`; `scripts/bench` prints the ratios.

// The inputs are fixed and valid; a failed `expect` is a broken benchmark, reported as such.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use epcis::document::Document;
use epcis::tds::{EpcTag, Sgtin96};

const EVENTS: u64 = 1_000;

fn event_pipeline(c: &mut Criterion) {
    let bytes = tagtrail_bench::object_event_document(0, EVENTS);
    let mut group = c.benchmark_group("event_pipeline");
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Value>(black_box(&bytes))
                .map(|v| black_box(v).is_object())
        })
    });
    group.bench_function("parse_validate_hash", |b| {
        b.iter(|| {
            let document =
                Document::parse(black_box(&bytes)).expect("the generated document parses");
            epcis::validate::validate(&document).expect("the generated document is valid");
            epcis::hash::parsed_document_hashes(&document).expect("every event hashes")
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| Document::parse(black_box(&bytes)).expect("the generated document parses"))
    });
    group.bench_function("validate_only", |b| {
        let document = Document::parse(&bytes).expect("the generated document parses");
        b.iter(|| {
            epcis::validate::validate(black_box(&document))
                .expect("the generated document is valid")
        })
    });
    group.bench_function("hash_only", |b| {
        let document = Document::parse(&bytes).expect("the generated document parses");
        b.iter(|| {
            epcis::hash::parsed_document_hashes(black_box(&document)).expect("every event hashes")
        })
    });
    group.finish();
}

fn tds_decode(c: &mut Criterion) {
    // 1,024 distinct SGTIN-96 tags (the GS1 TDS example with varying serials).
    let tags: Vec<[u8; 12]> = (0..1024u64)
        .map(|serial| {
            let tag = EpcTag::parse_tag_uri(&format!(
                "urn:epc:tag:sgtin-96:3.0614141.812345.{}",
                6789 + serial
            ))
            .expect("a valid tag URI");
            tag.bytes().try_into().expect("SGTIN-96 is 12 bytes")
        })
        .collect();
    let mut group = c.benchmark_group("tds_decode");
    group.throughput(Throughput::Elements(tags.len() as u64));
    group.bench_function("baseline_copy_bytes", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for tag in black_box(&tags) {
                let copy: [u8; 12] = black_box(*tag);
                acc = acc.wrapping_add(u64::from(copy[11]));
            }
            acc
        })
    });
    group.bench_function("sgtin96_decode", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for tag in black_box(&tags) {
                let decoded = Sgtin96::from_bytes(black_box(tag)).expect("valid SGTIN-96");
                acc = acc.wrapping_add(decoded.serial());
            }
            acc
        })
    });
    group.finish();
}

criterion_group!(benches, event_pipeline, tds_decode);
criterion_main!(benches);
