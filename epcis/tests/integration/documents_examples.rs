//! Every official GS1 EPCIS 2.0 example document, and the schema's own test events, must parse,
//! validate, and serialise back to the same JSON.

use crate::documents_common;

use std::fs;
use std::path::PathBuf;

use documents_common::{example_paths, testdata};
use epcis::document::{Document, DocumentKind, Event, EventKind};
use epcis::validate::{validate, validate_event};
use serde_json::Value;

fn example_documents() -> Vec<PathBuf> {
    example_paths()
}

#[test]
fn every_official_example_document_parses_and_validates() {
    let files = example_documents();
    assert_eq!(files.len(), 47, "expected the 47 GS1 example documents");
    let mut failures = Vec::new();
    for file in &files {
        let bytes = fs::read(file).unwrap();
        let name = file.strip_prefix(testdata()).unwrap().display().to_string();
        match Document::parse(&bytes) {
            Err(error) => failures.push(format!("{name}: does not parse: {error}")),
            Ok(document) => {
                if let Err(violations) = validate(&document) {
                    let lines: Vec<String> =
                        violations.iter().map(|v| format!("    {v}")).collect();
                    failures.push(format!("{name}:\n{}", lines.join("\n")));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_example_serialises_back_to_the_same_json_in_the_same_order() {
    for file in example_documents() {
        let bytes = fs::read(&file).unwrap();
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let document = Document::parse(&bytes).unwrap();
        let expected = serde_json::to_string(&original).unwrap();
        assert_eq!(document.to_json(), expected, "{}", file.display());
        assert_eq!(document.to_value(), original, "{}", file.display());
    }
}

#[test]
fn each_event_keeps_its_json_object_exactly() {
    for file in example_documents() {
        let bytes = fs::read(&file).unwrap();
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let document = Document::parse(&bytes).unwrap();
        let pointer = match document.kind() {
            DocumentKind::Document => "/epcisBody/eventList",
            DocumentKind::QueryDocument => "/epcisBody/queryResults/resultsBody/eventList",
        };
        let list = original.pointer(pointer).and_then(Value::as_array).unwrap();
        assert_eq!(list.len(), document.events().len(), "{}", file.display());
        for (event, expected) in document.events().iter().zip(list) {
            assert_eq!(event.pointer(), format!("{pointer}/{}", event.index()));
            assert_eq!(
                event.to_json(),
                serde_json::to_string(expected).unwrap(),
                "{} event {}",
                file.display(),
                event.index()
            );
        }
    }
}

#[test]
fn the_examples_cover_all_five_event_types_and_the_query_document() {
    let mut kinds = Vec::new();
    let mut query_documents = 0;
    for file in example_documents() {
        let document = Document::parse(&fs::read(&file).unwrap()).unwrap();
        if document.kind() == DocumentKind::QueryDocument {
            query_documents += 1;
        }
        kinds.extend(document.events().iter().map(Event::kind));
    }
    for kind in [
        EventKind::Object,
        EventKind::Aggregation,
        EventKind::Transaction,
        EventKind::Transformation,
        EventKind::Association,
    ] {
        assert!(kinds.contains(&kind), "no {kind:?} in the examples");
    }
    assert_eq!(query_documents, 1);
}

#[test]
fn the_schema_test_events_parse_and_validate_as_standalone_events() {
    let mut files = Vec::new();
    let directory = testdata().join("JSON-Schema/test");
    for entry in fs::read_dir(&directory).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "json")
        {
            files.push(path);
        }
    }
    files.sort();
    assert_eq!(files.len(), 5, "{files:?}");
    for file in files {
        let event = Event::parse(&fs::read(&file).unwrap())
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        assert!(event.is_standalone());
        if let Err(violations) = validate_event(&event) {
            panic!("{}: {violations:#?}", file.display());
        }
    }
}

#[test]
fn the_extended_event_test_file_is_an_extension_event() {
    let bytes = fs::read(testdata().join("JSON-Schema/test/Extended-Event.json")).unwrap();
    let event = Event::parse(&bytes).unwrap();
    assert_eq!(event.kind(), EventKind::Extension);
    assert_eq!(event.type_name(), "example:CustomEvent");
}

#[test]
fn the_cbv_word_lists_used_for_validation_are_the_schemas_enumerations() {
    use epcis::vocab::Vocabulary;
    let schema: Value =
        serde_json::from_slice(&fs::read(testdata().join("EPCIS-JSON-Schema.json")).unwrap())
            .unwrap();
    for (vocabulary, definition) in [
        (Vocabulary::BizStep, "bizStep"),
        (Vocabulary::Disposition, "disposition"),
        (Vocabulary::BizTransactionType, "bizTransaction-type"),
        (Vocabulary::SourceDestinationType, "source-dest-type"),
        (Vocabulary::ErrorReason, "error-reason"),
        (Vocabulary::MeasurementType, "measurementType"),
        (Vocabulary::SensorAlertType, "sensorAlertType"),
        (Vocabulary::Component, "component"),
    ] {
        let alternatives = schema["definitions"][definition]["anyOf"]
            .as_array()
            .unwrap();
        let mut from_schema: Vec<&str> = alternatives
            .iter()
            .filter_map(|alternative| alternative["enum"].as_array())
            .flatten()
            .map(|word| word.as_str().unwrap())
            .collect();
        from_schema.sort_unstable();
        let mut ours = vocabulary.standard_words().to_vec();
        ours.sort_unstable();
        assert_eq!(ours, from_schema, "{definition}");
    }
}
