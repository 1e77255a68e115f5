//! The lookup keys ingest computes from a parsed event (`LookupKeys::of_parsed`) are the keys the
//! indexer computes from the event's JSON object and from its stored text, for every event of the
//! GS1 reference documents and the CBV event-hash examples.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use epcis::document::Document;
use ledger_store::LookupKeys;
use ledger_store::testing::testdata_documents;

#[test]
fn keys_of_parsed_events_are_the_keys_of_their_json() {
    let mut paths = testdata_documents("gs1-epcis/examples");
    paths.extend(testdata_documents("event-hash/examples"));
    let mut events = 0;
    let mut with_epcs = 0;
    let mut with_locations = 0;
    let mut with_claims = 0;
    for path in &paths {
        let Ok(document) = Document::parse(&std::fs::read(path).unwrap()) else {
            continue; // not a capture document (a query, a master-data file)
        };
        for event in document.events() {
            let parsed = LookupKeys::of_parsed(event);
            assert_eq!(
                parsed,
                LookupKeys::of_event(event.raw()),
                "{} event {}",
                path.display(),
                event.index()
            );
            assert_eq!(
                parsed,
                LookupKeys::of_json(&event.to_json()).unwrap(),
                "{} event {}",
                path.display(),
                event.index()
            );
            events += 1;
            with_epcs += usize::from(event.epcs().next().is_some());
            with_locations += usize::from(event.read_point().is_some());
            with_claims += usize::from(!ledger::history::claimed(event.raw()).is_empty());
        }
    }
    // The walk found the documents and they exercise every kind of key.
    assert!(events >= 90, "only {events} events were compared");
    assert!(
        with_epcs > 50 && with_locations > 50,
        "{with_epcs} / {with_locations}"
    );
    // Events that claim to bring something into being (commissionings among them): what each
    // claims is part of the keys compared (their pairs' claim tags), so ingest's handed-over
    // pairs and the pairs read back from stored text claim alike.
    assert!(with_claims >= 8, "only {with_claims} events claim anything");
}

/// A recall of a lot (and a lifting of one of a whole product) is found under the lookup names
/// of what it recalls, whichever way its keys were computed; an event that only mentions the word
/// recalled is not.
#[test]
fn a_recall_of_a_lot_or_a_product_is_keyed_by_what_it_recalls() {
    use ledger::history::RecalledClass;
    use ledger_store::lookup_key;
    let document = serde_json::json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [
            {
                "type": "ObjectEvent",
                "eventTime": "2026-01-01T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "OBSERVE",
                "disposition": "recalled",
                "epcList": [],
                "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.L7", "quantity": 10}]
            },
            {
                "type": "ObjectEvent",
                "eventTime": "2026-01-02T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "OBSERVE",
                "persistentDisposition": {"unset": ["recalled"]},
                "epcList": [],
                "quantityList": [{"epcClass": "https://id.gs1.org/01/04012345111118", "quantity": 1}]
            },
            {
                "type": "ObjectEvent",
                "eventTime": "2026-01-03T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "OBSERVE",
                "bizStep": "inspecting",
                "epcList": [],
                "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.recalled", "quantity": 1}]
            }
        ]}
    });
    let lot = RecalledClass {
        gtin: "04012345111118".to_owned(),
        lot: Some("L7".to_owned()),
    };
    let product = RecalledClass {
        gtin: "04012345111118".to_owned(),
        lot: None,
    };
    let any = lookup_key(&RecalledClass::any_of("04012345111118"));
    let expected = [
        vec![lookup_key(&lot.lookup_name()), any],
        vec![lookup_key(&product.lookup_name()), any],
        vec![],
    ];
    assert_epc_keys(&document, expected);
}

/// An event is found by its `eventID` under a name no EPC has: `GET /events/{eventID}` reads one
/// lookup, and an event whose id is another item's EPC is no candidate of that item's history.
#[test]
fn an_event_is_looked_up_by_its_event_id_under_a_name_of_its_own() {
    use ledger_store::{event_id_lookup_name, lookup_key};
    const ITEM: &str = "urn:epc:id:sgtin:0614141.107346.2017";
    let document = serde_json::json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [
            {
                "type": "ObjectEvent",
                "eventID": "urn:uuid:3f1d2c3e-0000-4000-8000-000000000001",
                "eventTime": "2026-01-01T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "OBSERVE",
                "epcList": [ITEM]
            },
            {
                "type": "ObjectEvent",
                "eventID": ITEM,
                "eventTime": "2026-01-02T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "OBSERVE",
                "epcList": []
            }
        ]}
    });
    let expected = [
        vec![
            lookup_key(ITEM),
            lookup_key(&event_id_lookup_name(
                "urn:uuid:3f1d2c3e-0000-4000-8000-000000000001",
            )),
        ],
        vec![lookup_key(&event_id_lookup_name(ITEM))],
    ];
    assert_epc_keys(&document, expected);
}

/// An `eventID` that is not a string is no key on any path, and the entry keeps its other keys
/// (the stored text's path once dropped them all).
#[test]
fn an_event_id_that_is_not_a_string_costs_the_entry_no_other_key() {
    use ledger_store::lookup_key;
    let event = serde_json::json!({
        "type": "ObjectEvent",
        "eventID": 3,
        "eventTime": "2026-01-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]
    });
    let object = event.as_object().unwrap();
    let keys = LookupKeys::of_event(object);
    assert_eq!(keys, LookupKeys::of_json(&event.to_string()).unwrap());
    assert_eq!(
        keys.epc_keys(),
        [lookup_key("urn:epc:id:sgtin:0614141.107346.2017")]
    );
}

/// Each event of `document` has the same keys on the three paths, and its EPC keys are
/// `expected`'s (in any order), event by event.
fn assert_epc_keys<const N: usize>(document: &serde_json::Value, expected: [Vec<i64>; N]) {
    let document = Document::parse(document.to_string().as_bytes()).unwrap();
    let events = document.events();
    assert_eq!(events.len(), N);
    for (event, mut expected) in events.iter().zip(expected) {
        let parsed = LookupKeys::of_parsed(event);
        assert_eq!(parsed, LookupKeys::of_event(event.raw()));
        assert_eq!(parsed, LookupKeys::of_json(&event.to_json()).unwrap());
        expected.sort_unstable();
        assert_eq!(parsed.epc_keys(), expected, "event {}", event.index());
    }
}
