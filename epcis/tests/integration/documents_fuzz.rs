//! Property tests: parsing and validation never panic, whatever the input, and on random
//! mutations of the official examples our verdict agrees with the official JSON schema.

use crate::documents_common;

use documents_common::{assert_agrees_with_schema, event_list_pointer, examples, set};
use epcis::document::{Document, Event};
use epcis::validate::{validate, validate_event};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Strings that sit on the edges of the schema's formats and word lists.
fn interesting_string() -> impl Strategy<Value = String> {
    let pool: Vec<&'static str> = vec![
        "",
        "ADD",
        "OBSERVE",
        "DELETE",
        "shipping",
        "in_transit",
        "urn:epcglobal:cbv:bizstep:shipping",
        "https://ns.gs1.org/cbv/Disp-active",
        "https://gs1.org/voc/Temperature",
        "Temperature",
        "KGM",
        "kg",
        "2005-04-03T20:33:31.116-06:00",
        "2005-04-03T20:33:31.116",
        "2019-02-29T00:00:00Z",
        "2005-04-03T23:59:60Z",
        "-06:00",
        "+14:00",
        "+14:01",
        "urn:epc:id:sgtin:0614141.107346.2017",
        "urn:epc:class:lgtin:4012345.012345.998877",
        "https://id.gs1.org/01/09506000134352/21/12345",
        "example:field",
        "http://[::1]/",
        "http://a b/",
        "a:%zz",
        "f0f0",
        "EPCISDocument",
        "ObjectEvent",
        "2.0",
        "1.2",
    ];
    prop_oneof![
        proptest::sample::select(pool).prop_map(str::to_owned),
        "[ -~]{0,12}",
        "[a-z]{1,5}:[a-zA-Z0-9/.:%#?@_~\\[\\]-]{0,16}",
    ]
}

fn member_name() -> impl Strategy<Value = String> {
    let names: Vec<&'static str> = vec![
        "type",
        "eventTime",
        "eventTimeZoneOffset",
        "action",
        "epcList",
        "quantityList",
        "epcClass",
        "quantity",
        "uom",
        "readPoint",
        "id",
        "bizStep",
        "ilmd",
        "sensorReport",
        "set",
        "unset",
        "example:x",
    ];
    prop_oneof![
        proptest::sample::select(names).prop_map(str::to_owned),
        interesting_string(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(|number| json!(number)),
        interesting_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((member_name(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Pointers (relative to an event) where a mutation reaches the schema's nested definitions.
const NESTED_TARGETS: &[&str] = &[
    "",
    "/type",
    "/eventTime",
    "/eventTimeZoneOffset",
    "/action",
    "/bizStep",
    "/disposition",
    "/epcList",
    "/epcList/0",
    "/quantityList",
    "/quantityList/0",
    "/quantityList/0/quantity",
    "/quantityList/0/uom",
    "/readPoint",
    "/readPoint/id",
    "/bizTransactionList/0",
    "/bizTransactionList/0/type",
    "/sensorElementList/0/sensorReport/0",
    "/sensorElementList/0/sensorReport/0/type",
    "/sensorElementList/0/sensorMetadata",
    "/persistentDisposition",
    "/ilmd",
    "/errorDeclaration",
    "/childEPCs",
    "/inputEPCList",
    "/example:added",
];

proptest! {
    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(document) = Document::parse(&bytes) {
            let _ = validate(&document);
        }
        if let Ok(event) = Event::parse(&bytes) {
            let _ = validate_event(&event);
        }
    }

    #[test]
    fn parsing_and_validating_arbitrary_json_never_panics(value in json_value(), event in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Ok(document) = Document::parse(&bytes) {
            let _ = validate(&document);
        }
        // Reach past the document checks into the event checks.
        let mut event = event;
        if let Value::Object(members) = &mut event {
            members.insert("type".to_owned(), json!("ObjectEvent"));
        }
        let wrapped = json!({
            "type": "EPCISDocument",
            "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            "epcisBody": {"eventList": [event]},
        });
        if let Ok(document) = Document::parse(&serde_json::to_vec(&wrapped).unwrap()) {
            let _ = validate(&document);
            let _ = document.to_json();
        }
    }

    #[test]
    fn random_mutations_of_the_examples_get_the_schemas_verdict(
        file in 0usize..47,
        event in 0usize..8,
        target in proptest::sample::select(NESTED_TARGETS),
        value in json_value(),
    ) {
        let all = examples();
        let (name, original) = &all[file % all.len()];
        let list = event_list_pointer(original);
        let count = original.pointer(list).unwrap().as_array().unwrap().len();
        let pointer = format!("{list}/{}{target}", event % count);
        let mut mutant = original.clone();
        let parent = pointer.rsplit_once('/').map_or("", |(parent, _)| parent);
        // Only edit where the parent exists (the example may not have that member).
        if target.is_empty() || mutant.pointer(parent).is_some_and(|p| p.is_object() || p.as_array().is_some_and(|items| !items.is_empty())) {
            if let Some(Value::Array(items)) = mutant.pointer(parent) {
                let last = pointer.rsplit_once('/').unwrap().1;
                prop_assume!(last.parse::<usize>().is_ok_and(|index| index <= items.len()));
            }
            set(&mut mutant, &pointer, value);
            assert_agrees_with_schema(&mutant, &format!("{name}: {pointer}"));
        }
    }
}

/// Strings near the RFC 3986 `URI` grammar.
fn uri_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9+.-]{0,4}:[a-zA-Z0-9/.:%#?@!$&'()*+,;=_~\\[\\]-]{0,20}",
        "[a-z]{1,5}://[a-zA-Z0-9.:%@\\[\\]-]{0,16}(/[a-zA-Z0-9%.:@ -]{0,8}){0,3}([?#][a-z0-9=&%#?/]{0,8})?",
        "[ -~]{0,16}",
    ]
}

/// Strings near the RFC 3339 `date-time` grammar.
fn date_time_like() -> impl Strategy<Value = String> {
    (
        "[0-9]{4}",
        "(0[0-9]|1[0-3])",
        "([0-3][0-9])",
        "[Tt ]",
        "([0-2][0-9])",
        "[0-6][0-9]",
        "[0-6][0-9]",
        "(\\.[0-9]{0,4})?",
        "(Z|z|[+-][0-2][0-9]:[0-6][0-9]|)",
    )
        .prop_map(
            |(year, month, day, separator, hour, minute, second, fraction, offset)| {
                format!("{year}-{month}-{day}{separator}{hour}:{minute}:{second}{fraction}{offset}")
            },
        )
}

proptest! {
    #[test]
    fn uri_format_agrees_with_the_schema(uri in uri_like()) {
        let mut document = documents_common::example("Example_9.6.1-ObjectEvent.jsonld");
        set(&mut document, "/epcisBody/eventList/0/eventID", json!(uri));
        assert_agrees_with_schema(&document, &format!("eventID {uri:?}"));
    }

    #[test]
    fn date_time_format_agrees_with_the_schema(time in date_time_like()) {
        let mut document = documents_common::example("Example_9.6.1-ObjectEvent.jsonld");
        set(&mut document, "/epcisBody/eventList/0/eventTime", json!(time));
        assert_agrees_with_schema(&document, &format!("eventTime {time:?}"));
    }
}
