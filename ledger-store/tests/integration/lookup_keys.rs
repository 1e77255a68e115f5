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
        }
    }
    // The walk found the documents and they exercise every kind of key.
    assert!(events >= 90, "only {events} events were compared");
    assert!(
        with_epcs > 50 && with_locations > 50,
        "{with_epcs} / {with_locations}"
    );
}
