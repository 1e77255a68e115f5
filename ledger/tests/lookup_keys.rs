//! The lookup keys ingest computes from a parsed event (`LookupKeys::of_parsed`) are the keys the
//! indexer computes from the event's JSON object and from its stored text, for every event of the
//! GS1 reference documents and the CBV event-hash examples.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use epcis::document::Document;
use ledger::store::LookupKeys;

fn documents(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            documents(&path, found);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "json" || extension == "jsonld")
        {
            found.push(path);
        }
    }
}

#[test]
fn keys_of_parsed_events_are_the_keys_of_their_json() {
    let testdata: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "testdata"]
        .iter()
        .collect();
    let mut paths = Vec::new();
    documents(&testdata.join("gs1-epcis").join("examples"), &mut paths);
    documents(&testdata.join("event-hash").join("examples"), &mut paths);
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
