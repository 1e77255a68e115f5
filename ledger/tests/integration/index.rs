//! The verifiable index's byte formats, pinned: the keys of six events, the head of their index
//! cut into three runs, and the proofs of an item and of a place on a day, against
//! `tests/golden/index-v1.txt` (documented in `ledger/README.md`, "Verifiable index").

use ledger::index::{IndexHead, IndexKey, KeyKind, KeyProof, KeyRange, MemoryIndex, keys_of_json};
use std::fmt::Write as _;

const GOLDEN_INDEX: &str = include_str!("../golden/index-v1.txt");

const ITEM: &str = "urn:epc:id:sgtin:0614141.107346.2017";
const PALLET: &str = "urn:epc:id:sscc:0614141.1234567890";
const PLANT: &str = "urn:epc:id:sgln:0614141.07346.0";

/// Six events: two items commissioned with a lot, packed on a pallet, shipped, received, and
/// one item sold; the last two on the next day.
fn golden_events() -> Vec<String> {
    let event = |body: &str| format!(r#"{{"type":"ObjectEvent",{body}}}"#);
    vec![
        event(&format!(
            r#""eventTime":"2026-03-01T08:00:00Z","epcList":["{ITEM}","urn:epc:id:sgtin:0614141.107346.2018"],"action":"ADD","bizStep":"commissioning","readPoint":{{"id":"{PLANT}"}},"ilmd":{{"cbvmda:lotNumber":"L42"}}"#
        )),
        r#"{"type":"AggregationEvent","eventTime":"2026-03-01T09:00:00Z","parentID":"urn:epc:id:sscc:0614141.1234567890","childEPCs":["https://id.gs1.org/01/10614141073464/21/2017","urn:epc:id:sgtin:0614141.107346.2018"],"action":"ADD","bizStep":"packing","readPoint":{"id":"urn:epc:id:sgln:0614141.07346.0"}}"#.to_owned(),
        event(&format!(
            r#""eventTime":"2026-03-01T17:00:00Z","epcList":["{PALLET}"],"action":"OBSERVE","bizStep":"shipping","bizLocation":{{"id":"{PLANT}"}}"#
        )),
        event(
            r#""eventTime":"2026-03-01T18:00:00Z","epcList":[],"quantityList":[{"epcClass":"urn:epc:class:lgtin:0614141.107346.L42","quantity":2}],"action":"OBSERVE","bizStep":"inspecting""#,
        ),
        event(&format!(
            r#""eventTime":"2026-03-02T07:30:00+01:00","epcList":["{PALLET}"],"action":"OBSERVE","bizStep":"receiving","bizLocation":{{"id":"urn:epc:id:sgln:4012345.00001.0"}}"#
        )),
        event(&format!(
            r#""eventTime":"2026-03-02T12:00:00Z","epcList":["{ITEM}"],"action":"OBSERVE","bizStep":"retail_selling","bizLocation":{{"id":"urn:epc:id:sgln:4012345.00001.0"}}"#
        )),
    ]
}

fn golden_index() -> MemoryIndex {
    let keys: Vec<Vec<IndexKey>> = golden_events()
        .iter()
        .map(|event| keys_of_json(event).unwrap())
        .collect();
    let mut index = MemoryIndex::new();
    index.push_entries(&keys[..2]);
    index.push_entries(&keys[2..5]);
    index.push_entries(&keys[5..]);
    index
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

fn key_text(key: &IndexKey) -> String {
    format!("{:02x}{}", key.kind().code(), hex(key.hash()))
}

/// The golden text, as this version computes it.
fn computed() -> String {
    let index = golden_index();
    let head = index.head().unwrap();
    let mut text = String::from(
        "# The golden verifiable index (ledger/tests/integration/index.rs): keys as kind byte and\n\
         # hash, the encoded head of six events in runs 0..2, 2..5, 5..6, its root, and key proofs.\n",
    );
    let day = 20_513; // 2026-03-01
    let keys = [
        ("epc", ITEM.to_owned(), IndexKey::epc(ITEM)),
        ("parent", PALLET.to_owned(), IndexKey::parent(PALLET)),
        (
            "class",
            "10614141073464".to_owned(),
            IndexKey::gtin("10614141073464").unwrap(),
        ),
        (
            "lot",
            "10614141073464 L42".to_owned(),
            IndexKey::lot("10614141073464", "L42").unwrap(),
        ),
        (
            "location-day",
            format!("{PLANT} {day}"),
            IndexKey::location_day(PLANT, day),
        ),
    ];
    for (kind, name, key) in &keys {
        let _ = writeln!(text, "key {kind} {name} {}", key_text(key));
    }
    let _ = writeln!(text, "head {}", hex(&head.encode()));
    let _ = writeln!(text, "root {}", head.root().to_hex());
    for (kind, name, key) in [&keys[0], &keys[4]] {
        let proof = index.prove(&head, KeyRange::all(*key)).unwrap();
        let _ = writeln!(text, "proof {kind} {name} {}", hex(&proof.encode()));
    }
    text
}

#[test]
fn the_index_of_the_golden_events_has_its_golden_bytes() {
    let computed = computed();
    assert!(
        computed == GOLDEN_INDEX,
        "tests/golden/index-v1.txt differs from what this version computes:\n{computed}"
    );
}

#[test]
fn the_golden_proofs_decode_and_list_the_golden_entries() {
    let mut head = None;
    let mut listed = Vec::new();
    for line in GOLDEN_INDEX.lines().filter(|line| !line.starts_with('#')) {
        let fields: Vec<&str> = line.split(' ').collect();
        let bytes = || decode_hex(fields[fields.len() - 1]);
        match fields[0] {
            "head" => head = Some(IndexHead::decode(&bytes()).unwrap()),
            "proof" => {
                let proof = KeyProof::decode(&bytes()).unwrap();
                assert_eq!(proof.encode(), bytes(), "one encoding");
                listed.push((fields[1], proof.verify(head.as_ref().unwrap()).unwrap()));
            }
            _ => {}
        }
    }
    let head = head.unwrap();
    assert_eq!(head.size().get(), 6);
    assert_eq!(head.runs().len(), 3);
    assert_eq!(
        listed,
        vec![("epc", vec![0, 1, 5]), ("location-day", vec![0, 1, 2])],
        "the item: commissioned, packed (as a Digital Link), sold; the plant on 2026-03-01"
    );
    assert_eq!(
        golden_index().leaves(IndexKey::lot("10614141073464", "L42").unwrap()),
        vec![0, 3],
        "the lot: from the commissioning ILMD and the LGTIN class"
    );
    assert_eq!(
        golden_index().leaves(IndexKey::from_parts(
            KeyKind::Parent,
            *IndexKey::parent(PALLET).hash()
        )),
        vec![1]
    );
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
        .collect()
}
