//! The CBV 2.0 event hash against the GS1 reference implementation's published vectors
//! (`testdata/event-hash/examples`): every `.jsonld` input must reproduce its `.prehashes`
//! (one pre-hash string per line, per event in document order) and `.hashes` (one event hash
//! ID per line) byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use epcis::hash::{EventHash, HashContext, document_hashes, prehash};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

fn vector_path(name: &str, extension: &str) -> PathBuf {
    testdata()
        .join("event-hash/examples")
        .join(format!("{name}.{extension}"))
}

/// The non-empty lines of a vector file.
fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.split('\n')
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Hashes `<name>.jsonld` and compares with `<name>.prehashes` (if present) and `<name>.hashes`.
fn check_vector(name: &str) {
    let document = load_json(&vector_path(name, "jsonld"));
    let computed = document_hashes(&document)
        .unwrap_or_else(|error| panic!("{name}: hashing failed: {error}"));

    let expected_hashes = lines(&vector_path(name, "hashes"));
    let computed_hashes: Vec<String> = computed.iter().map(|(_, hash)| hash.to_ni_uri()).collect();

    let prehash_path = vector_path(name, "prehashes");
    if prehash_path.exists() {
        let expected_prehashes = lines(&prehash_path);
        assert_eq!(
            expected_prehashes.len(),
            computed.len(),
            "{name}: number of events"
        );
        for (index, (expected, (actual, _))) in expected_prehashes.iter().zip(&computed).enumerate()
        {
            assert_eq!(actual, expected, "{name}: pre-hash of event {index}");
        }
    }
    assert_eq!(computed_hashes, expected_hashes, "{name}: event hash IDs");
    for (uri, (_, hash)) in expected_hashes.iter().zip(&computed) {
        assert_eq!(
            EventHash::parse_ni(uri).as_ref(),
            Ok(hash),
            "{name}: parsed hash ID"
        );
    }
}

macro_rules! vectors {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_vector($name);
            }
        )*

        /// Every vector input in the directory has a test above.
        #[test]
        fn every_jsonld_vector_has_a_test() {
            let listed = [$($name),*];
            let directory = testdata().join("event-hash/examples");
            let mut on_disk: Vec<String> = std::fs::read_dir(&directory)
                .expect("the vector directory is readable")
                .filter_map(|entry| {
                    let name = entry.ok()?.file_name().into_string().ok()?;
                    name.strip_suffix(".jsonld").map(str::to_owned)
                })
                .collect();
            on_disk.sort();
            let mut listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
            listed.sort();
            assert_eq!(listed, on_disk);
        }
    };
}

vectors! {
    certification_info_and_sensor_report_with_crs => "CertificationInfoAndSensorReportWithCRS",
    reference_event_hash_algorithm => "ReferenceEventHashAlgorithm",
    reference_event_hash_algorithm_2 => "ReferenceEventHashAlgorithm2",
    reference_event_hash_algorithm_3 => "ReferenceEventHashAlgorithm3",
    timestamps_round_off_on_the_fourth_fraction_digit => "TimeStampRoundOff",
    a_comment_does_not_change_the_hash => "epcisDocHavingEventWithComment",
    a_document_can_ask_to_ignore_fields => "epcisDocHavingEventWithIgnoreFields",
    every_gs1_key_converts_to_a_digital_link => "epcisDocWithAllGS1Keys",
    a_custom_schema_in_the_context => "epcisDocWithCustomSchemaInContext",
    the_default_schema_in_the_context => "epcisDocWithDefaultSchemaInContext",
    sensor_report_components => "epcisDocWithSensorComponent",
    sensor_data_object_event => "epcisDocWithSensorDataObjectEvent",
    shipping_and_transporting_events => "epcisDocWithShippingAndTransportingEvent",
    a_single_event => "epcisDocWithSingleEvent",
    various_event_types => "epcisDocWithVariousEventTypes",
    an_error_declaration_is_not_hashed => "epcisDocWithXMLstartTagAndErrorDeclaration",
    curies => "epcisEventWithCURIEs",
    a_query_document_can_ask_to_ignore_fields => "epcisQueryDocHavingEventWithIgnoreFields",
    a_query_document => "epcisQueryDocument",
    epc_list_normalisation => "epclist_normalisation",
    persistent_disposition => "persistentDisposition",
    ralfs_chaos_example => "ralfsChaosExample",
}

fn jsonld_files(directory: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("the examples directory is readable") {
        let path = entry.expect("directory entries are readable").path();
        if path.is_dir() {
            jsonld_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "jsonld") {
            found.push(path);
        }
    }
}

#[test]
fn every_official_epcis_example_document_hashes_without_error() {
    let mut files = Vec::new();
    jsonld_files(&testdata().join("gs1-epcis/examples"), &mut files);
    assert!(
        files.len() >= 40,
        "expected the GS1 example set, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    let mut events = 0;
    for path in &files {
        let document = load_json(path);
        match document_hashes(&document) {
            Ok(hashes) => {
                events += hashes.len();
                for (text, _) in &hashes {
                    assert!(text.starts_with("eventType="), "{}: {text}", path.display());
                }
            }
            Err(error) => failures.push(format!("{}: {error}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "documents that failed to hash:\n{}",
        failures.join("\n")
    );
    assert!(
        events > files.len(),
        "the examples hold more events than files ({events})"
    );
}

#[test]
fn member_order_and_key_order_do_not_change_the_hash() {
    let a: Value = serde_json::from_str(
        r#"{"type": "ObjectEvent", "action": "OBSERVE",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.2018", "urn:epc:id:sgtin:0614141.107346.2017"],
            "eventTime": "2022-02-16T20:33:31.116-06:00", "eventTimeZoneOffset": "-06:00"}"#,
    )
    .unwrap();
    let b: Value = serde_json::from_str(
        r#"{"eventTimeZoneOffset": "-06:00", "eventTime": "2022-02-17T02:33:31.116Z",
            "epcList": ["https://id.gs1.org/01/10614141073464/21/2017", "urn:epc:id:sgtin:0614141.107346.2018"],
            "action": "OBSERVE", "type": "ObjectEvent"}"#,
    )
    .unwrap();
    let context = HashContext::default();
    let prehash_a = prehash(a.as_object().unwrap(), &context).unwrap();
    let prehash_b = prehash(b.as_object().unwrap(), &context).unwrap();
    assert_eq!(prehash_a, prehash_b);
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "urn:epc:id:sgtin:0614141.107346.2017",
            "urn:epc:id:sgln:0614141.07346.0",
            "urn:epc:idpat:sgtin:4012345.066666.*",
            "https://id.example.com/01/9506000134352/10/A/21/B?x=1",
            "https://id.gs1.org/01/09506000134352/22/x/21/y",
            "2023-02-02T11:04:03.14159+01:00",
            "urn:epcglobal:cbv:bizstep:shipping",
            "gs1:Temperature",
            "shipping",
            "1e-7",
            "0012.50",
            "9999-12-31T23:59:59.9999-14:00",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "type",
            "eventTime",
            "eventTimeZoneOffset",
            "certificationInfo",
            "epcList",
            "parentID",
            "childEPCs",
            "quantityList",
            "epcClass",
            "quantity",
            "action",
            "bizStep",
            "disposition",
            "persistentDisposition",
            "set",
            "readPoint",
            "id",
            "bizTransactionList",
            "bizTransaction",
            "sourceList",
            "destinationList",
            "sensorElementList",
            "sensorMetadata",
            "sensorReport",
            "time",
            "value",
            "ilmd",
            "@context",
            "example:field",
            "gs1:x",
            "comment",
        ])
        .prop_map(str::to_owned),
        "[a-z:]{1,6}",
    ]
}

proptest! {
    #[test]
    fn prehash_never_panics_on_arbitrary_objects(
        entries in prop::collection::vec((key(), arbitrary_json()), 0..8),
        event_type in prop::option::of("[A-Za-z]{1,12}"),
    ) {
        let mut event: Map<String, Value> = entries.into_iter().collect();
        if let Some(event_type) = event_type {
            event.insert("type".to_owned(), Value::String(event_type));
        }
        let context = HashContext::default();
        if let Ok(text) = prehash(&event, &context) {
            prop_assert!(text.starts_with("eventType="));
            // Hashing is a pure function of the event.
            prop_assert_eq!(Ok(text), prehash(&event, &context));
        }
    }

    #[test]
    fn document_hashes_never_panic_on_arbitrary_documents(document in arbitrary_json()) {
        let _ = document_hashes(&document);
        let wrapped = serde_json::json!({"epcisBody": {"eventList": [document]}});
        let _ = document_hashes(&wrapped);
    }
}
