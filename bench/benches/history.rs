//! What custody authority costs a history (`ledger::history`), against the same history put
//! together with no judging (every event taken to count), measured in the same run:
//! - `history_10/assembled_unjudged`: the baseline;
//! - `history_10/judged_with_parties`: the same events judged with a registry of parties (the
//!   brand owns the item's and the case's company prefix), as trace-api and `tagtrail verify
//!   --participants` do.
//!
//! The item has 10 events: commissioned, packed into a case, the case inspected, shipped and
//! received by another organisation, unpacked, the item stored and sold, plus a packing by a party
//! without custody (judged unauthorised).
//!
//! Run: `cargo bench -p tagtrail-bench --bench history`.

// The inputs are fixed and valid; a failed `expect` is a broken benchmark, reported as such.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use epcis::epc::CompanyPrefix;
use ledger::history::{Judge, Memory, Parties, SourceEvent, in_memory};
use ledger::{LeafIndex, OrganisationId};
use serde_json::{Map, Value, json};

const ITEM: &str = "urn:epc:id:sgtin:0614141.107346.2017";
const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";

fn event(minute: u32, body: Value) -> Map<String, Value> {
    let mut event = body.as_object().expect("an object").clone();
    event.insert(
        "eventTime".to_owned(),
        json!(format!("2026-01-01T10:{minute:02}:00Z")),
    );
    event
}

fn log() -> Memory {
    let object = |epcs: &[&str], action: &str, step: &str| json!({"type": "ObjectEvent", "epcList": epcs, "action": action, "bizStep": step});
    let aggregation = |action: &str, parent: &str, children: &[&str]| {
        json!({"type": "AggregationEvent", "action": action, "parentID": parent,
               "childEPCs": children})
    };
    let events = [
        ("brand", event(0, object(&[ITEM], "ADD", "commissioning"))),
        ("brand", event(1, aggregation("ADD", CASE, &[ITEM]))),
        ("brand", event(2, object(&[CASE], "OBSERVE", "inspecting"))),
        ("brand", event(3, object(&[CASE], "OBSERVE", "shipping"))),
        (
            "rival",
            event(
                4,
                aggregation("ADD", "urn:epc:id:sscc:0712345.0000000001", &[ITEM]),
            ),
        ),
        ("shop", event(5, object(&[CASE], "OBSERVE", "receiving"))),
        ("shop", event(6, aggregation("DELETE", CASE, &[]))),
        ("shop", event(7, object(&[ITEM], "OBSERVE", "storing"))),
        ("shop", event(8, object(&[ITEM], "OBSERVE", "inspecting"))),
        (
            "shop",
            event(9, object(&[ITEM], "OBSERVE", "retail_selling")),
        ),
    ];
    Memory::new(events.into_iter().enumerate().map(|(leaf, (by, event))| {
        let mut source = SourceEvent::of(
            LeafIndex::new(leaf as u64).expect("a small leaf index"),
            event,
            Some(OrganisationId::parse(by).expect("an organisation id")),
            None,
        );
        source.captured = Some(source.time);
        source
    }))
}

fn history(c: &mut Criterion) {
    let memory = log();
    let mut parties = Parties::new();
    let org = |id: &str| OrganisationId::parse(id).expect("an organisation id");
    parties.add_prefix(
        org("brand"),
        CompanyPrefix::parse("0614141").expect("a prefix"),
    );
    parties.add_prefix(
        org("rival"),
        CompanyPrefix::parse("0712345").expect("a prefix"),
    );
    let unjudged = ledger::history::Claims::default();
    let mut group = c.benchmark_group("history_10");
    group.bench_function("assembled_unjudged", |b| {
        b.iter(|| {
            in_memory(
                black_box(&memory),
                vec![ITEM.to_owned()],
                Judge::Claimed(&unjudged),
                1000,
            )
            .expect("the history fits")
        })
    });
    group.bench_function("judged_with_parties", |b| {
        b.iter(|| {
            in_memory(
                black_box(&memory),
                vec![ITEM.to_owned()],
                Judge::Parties(&parties),
                1000,
            )
            .expect("the history fits")
        })
    });
    group.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);
