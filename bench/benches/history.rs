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
//! What a hostile party's own events cost the history of another's item, at two sizes, so that
//! the ratio shows how the cost grows (2 for linear, 4 for quadratic, 8 for cubic):
//! - `history_hostile/receipts_in_transit/{n}`: the brand ships its case to a rival or a carrier;
//!   the carrier's receipt is logged first, then the rival's `n` receipts of the case, each dated
//!   before it (all refused: the first receipt logged settles the hand-over);
//! - `history_hostile/backdated_transfers/{n}`: the carrier, holding the case, logs `n`
//!   shipments of it to the rival, `n` receipts of its own, then `n` transfers to itself dated
//!   before all of them (each checked against every shipment the log holds dated after it);
//! - `history_hostile/reshipped/{n}`: the rival, holding the case, logs `n` receipts of the item
//!   in it, then ships the case `n` times (each shipment checked against what it carries).
//!
//! Run: `cargo bench -p tagtrail-bench --bench history`.

// The inputs are fixed and valid; a failed `expect` is a broken benchmark, reported as such.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use epcis::epc::CompanyPrefix;
use ledger::history::{Judge, Memory, Parties, SourceEvent, in_memory};
use ledger::{LeafIndex, OrganisationId};
use serde_json::{Value, json};

const ITEM: &str = "urn:epc:id:sgtin:0614141.107346.2017";
const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";

fn log() -> Memory {
    let aggregation = |action: &str, parent: &str, children: &[&str]| {
        json!({"type": "AggregationEvent", "action": action, "parentID": parent,
               "childEPCs": children})
    };
    let rival_pallet = "urn:epc:id:sscc:0712345.0000000001";
    let events = vec![
        ("brand", object(&[ITEM], "ADD", "commissioning")),
        ("brand", aggregation("ADD", CASE, &[ITEM])),
        ("brand", object(&[CASE], "OBSERVE", "inspecting")),
        ("brand", object(&[CASE], "OBSERVE", "shipping")),
        ("rival", aggregation("ADD", rival_pallet, &[ITEM])),
        ("shop", object(&[CASE], "OBSERVE", "receiving")),
        ("shop", aggregation("DELETE", CASE, &[])),
        ("shop", object(&[ITEM], "OBSERVE", "storing")),
        ("shop", object(&[ITEM], "OBSERVE", "inspecting")),
        ("shop", object(&[ITEM], "OBSERVE", "retail_selling")),
    ];
    // A minute apart from 10:00.
    let minutes = (0..).map(|minute| 36_000 + 60 * minute);
    logged(
        events
            .into_iter()
            .zip(minutes)
            .map(|((by, body), second)| (by, body, second))
            .collect(),
    )
}

/// The item's history among `memory`'s events, of at most 10,000 (the holders' own state
/// changes in the hostile logs are more than the service's 1,000), judged with `parties`.
fn judged(memory: &Memory, parties: &Parties) -> ledger::history::History<usize> {
    in_memory(
        memory,
        vec![ITEM.to_owned()],
        Judge::Parties(parties),
        10_000,
    )
    .expect("the history is answered")
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
        b.iter(|| judged(black_box(&memory), &parties))
    });
    group.finish();
}

/// A time `second` seconds into the day.
fn at(second: u32) -> String {
    format!(
        "2026-01-01T{:02}:{:02}:{:02}Z",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

/// `events` (reporter, body, second) logged in order.
fn logged(events: Vec<(&str, Value, u32)>) -> Memory {
    Memory::new(
        events
            .into_iter()
            .enumerate()
            .map(|(leaf, (by, mut body, second))| {
                body["eventTime"] = json!(at(second));
                let event = body.as_object().expect("an object").clone();
                let mut source = SourceEvent::of(
                    LeafIndex::new(leaf as u64).expect("a small leaf index"),
                    event,
                    Some(OrganisationId::parse(by).expect("an organisation id")),
                    None,
                );
                source.captured = Some(source.time);
                source
            }),
    )
}

const RIVAL: &str = "urn:epc:id:pgln:0712345.00000";
const CARRIER: &str = "urn:epc:id:pgln:0999999.00000";

fn object(epcs: &[&str], action: &str, step: &str) -> Value {
    json!({"type": "ObjectEvent", "epcList": epcs, "action": action, "bizStep": step})
}

fn shipping(to: &[&str]) -> Value {
    let mut event = object(&[CASE], "OBSERVE", "shipping");
    let to: Vec<Value> = to
        .iter()
        .map(|party| json!({"type": "owning_party", "destination": party}))
        .collect();
    event["destinationList"] = json!(to);
    event
}

/// The brand's item, packed into its case.
fn packed() -> Vec<(&'static str, Value, u32)> {
    vec![
        ("brand", object(&[ITEM], "ADD", "commissioning"), 0),
        (
            "brand",
            json!({"type": "AggregationEvent", "action": "ADD", "parentID": CASE,
                   "childEPCs": [ITEM]}),
            1,
        ),
    ]
}

fn receipts_in_transit(n: u32) -> Memory {
    let mut events = packed();
    events.push(("brand", shipping(&[RIVAL, CARRIER]), 2));
    events.push(("carrier", object(&[CASE], "OBSERVE", "receiving"), 80_000));
    for i in 0..n {
        events.push(("rival", object(&[CASE], "OBSERVE", "receiving"), 3 + i));
    }
    logged(events)
}

fn backdated_transfers(n: u32) -> Memory {
    let mut events = packed();
    events.push(("brand", shipping(&[CARRIER]), 2));
    events.push(("carrier", object(&[CASE], "OBSERVE", "receiving"), 3));
    for i in 0..n {
        events.push(("carrier", shipping(&[RIVAL]), 40_000 + i));
    }
    for i in 0..n {
        events.push((
            "carrier",
            object(&[CASE], "OBSERVE", "receiving"),
            60_000 + i,
        ));
    }
    for i in 0..n {
        let transfer = json!({"type": "TransactionEvent", "action": "ADD", "epcList": [CASE],
            "bizTransactionList": [{"type": "po",
                "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO-7"}],
            "destinationList": [{"type": "possessing_party", "destination": CARRIER}]});
        events.push(("carrier", transfer, 100 + i));
    }
    logged(events)
}

/// A hostile scenario: its name, its log of a given size, and the two sizes measured.
type Scenario = (&'static str, fn(u32) -> Memory, [u32; 2]);

fn reshipped(n: u32) -> Memory {
    let mut events = packed();
    events.push(("brand", shipping(&[RIVAL]), 2));
    events.push(("rival", object(&[CASE], "OBSERVE", "receiving"), 3));
    for i in 0..n {
        events.push(("rival", object(&[ITEM], "OBSERVE", "receiving"), 10 + i));
    }
    for i in 0..n {
        events.push(("rival", shipping(&[CARRIER]), 20_000 + i));
    }
    logged(events)
}

fn hostile(c: &mut Criterion) {
    let mut parties = Parties::new();
    let org = |id: &str| OrganisationId::parse(id).expect("an organisation id");
    for (owner, prefix) in [
        ("brand", "0614141"),
        ("rival", "0712345"),
        ("carrier", "0999999"),
    ] {
        parties.add_prefix(org(owner), CompanyPrefix::parse(prefix).expect("a prefix"));
    }
    let mut group = c.benchmark_group("history_hostile");
    group.sample_size(10);
    let scenarios: [Scenario; 3] = [
        ("receipts_in_transit", receipts_in_transit, [2_000, 4_000]),
        ("backdated_transfers", backdated_transfers, [1_000, 3_000]),
        ("reshipped", reshipped, [1_000, 2_000]),
    ];
    for (name, log, sizes) in scenarios {
        for n in sizes {
            let memory = log(n);
            group.bench_function(format!("{name}/{n}"), |b| {
                b.iter(|| judged(black_box(&memory), &parties))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, history, hostile);
criterion_main!(benches);
