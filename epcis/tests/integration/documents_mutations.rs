//! Invalid documents made by mutating the official examples: each must be rejected with the
//! expected JSON pointer and rule, and the official JSON schema must agree on every mutant
//! (except where we are stricter by design, see `is_stricter_than_schema`).

use crate::documents_common;

use documents_common::{
    Verdict, assert_agrees_with_schema, event_list_pointer, example, examples,
    is_stricter_than_schema, official_schema, our_verdict, remove, set,
};
use epcis::document::{Document, Event};
use epcis::validate::{Rule, validate_event};
use serde_json::{Value, json};

/// Asserts that `document` is rejected with a violation of `rule` at `pointer` (by the parser or
/// the validator), and that the schema agrees.
fn assert_rejected(document: &Value, pointer: &str, rule: Rule, context: &str) {
    let verdict = our_verdict(document);
    let violations = verdict.violations();
    assert!(
        violations
            .iter()
            .any(|violation| violation.pointer() == pointer && violation.rule() == rule),
        "{context}: expected {rule} at {pointer}, got {verdict:#?}"
    );
    assert_agrees_with_schema(document, context);
}

fn assert_accepted(document: &Value, context: &str) {
    let verdict = our_verdict(document);
    assert!(
        verdict.is_valid(),
        "{context}: expected valid, got {verdict:#?}"
    );
    assert_agrees_with_schema(document, context);
}

/// The members the schema (and the standard) require of each event type.
fn required_members(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "ObjectEvent" | "AggregationEvent" => {
            &["type", "eventTime", "eventTimeZoneOffset", "action"]
        }
        "TransactionEvent" => &[
            "type",
            "eventTime",
            "eventTimeZoneOffset",
            "action",
            "bizTransactionList",
        ],
        "AssociationEvent" => &[
            "type",
            "eventTime",
            "eventTimeZoneOffset",
            "action",
            "parentID",
        ],
        "TransformationEvent" => &["type", "eventTime", "eventTimeZoneOffset"],
        other => panic!("unexpected event type {other}"),
    }
}

#[test]
fn dropping_any_required_event_member_is_rejected_at_that_member() {
    let mut mutants = 0;
    for (name, original) in examples() {
        let list = event_list_pointer(&original);
        let events = original.pointer(list).unwrap().as_array().unwrap().clone();
        for (index, event) in events.iter().enumerate() {
            let event_type = event["type"].as_str().unwrap();
            for member in required_members(event_type) {
                let pointer = format!("{list}/{index}/{member}");
                let mut mutant = original.clone();
                remove(&mut mutant, &pointer);
                let context = format!("{name} without {pointer}");
                assert_rejected(&mutant, &pointer, Rule::Required, &context);
                let violations = our_verdict(&mutant).violations().len();
                assert_eq!(violations, 1, "{context}: exactly one violation expected");
                if let Verdict::Invalid(violations) = our_verdict(&mutant) {
                    assert_eq!(violations[0].event_index(), Some(index), "{context}");
                }
                mutants += 1;
            }
        }
    }
    assert!(mutants > 200, "only {mutants} mutants");
}

#[test]
fn dropping_a_required_document_member_is_rejected_at_that_member() {
    for (name, original) in examples() {
        let required: &[&str] = if original["type"] == "EPCISQueryDocument" {
            &["@context", "type", "epcisBody"]
        } else {
            &[
                "@context",
                "type",
                "schemaVersion",
                "creationDate",
                "epcisBody",
            ]
        };
        for member in required {
            let pointer = format!("/{member}");
            let mut mutant = original.clone();
            remove(&mut mutant, &pointer);
            assert_rejected(
                &mutant,
                &pointer,
                Rule::Required,
                &format!("{name} without {member}"),
            );
        }
        let list = event_list_pointer(&original);
        let mut mutant = original.clone();
        remove(&mut mutant, list);
        assert_rejected(
            &mutant,
            list,
            Rule::Required,
            &format!("{name} without its event list"),
        );
    }
}

/// Standard members whose values a `true` cannot satisfy.
const TYPED_MEMBERS: &[&str] = &[
    "@context",
    "type",
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "certificationInfo",
    "errorDeclaration",
    "action",
    "epcList",
    "quantityList",
    "parentID",
    "childEPCs",
    "childQuantityList",
    "inputEPCList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "transformationID",
    "bizStep",
    "disposition",
    "persistentDisposition",
    "readPoint",
    "bizLocation",
    "bizTransactionList",
    "sourceList",
    "destinationList",
    "sensorElementList",
    "ilmd",
];

#[test]
fn a_standard_member_of_the_wrong_json_type_is_rejected_with_rule_type() {
    let mut mutants = 0;
    for (name, original) in examples() {
        let list = event_list_pointer(&original);
        let events = original.pointer(list).unwrap().as_array().unwrap().clone();
        for (index, event) in events.iter().enumerate() {
            for member in event.as_object().unwrap().keys() {
                if !TYPED_MEMBERS.contains(&member.as_str()) {
                    continue;
                }
                let pointer = format!("{list}/{index}/{member}");
                let mut mutant = original.clone();
                set(&mut mutant, &pointer, json!(true));
                assert_rejected(
                    &mutant,
                    &pointer,
                    Rule::Type,
                    &format!("{name}: {pointer} = true"),
                );
                mutants += 1;
            }
        }
    }
    assert!(mutants > 400, "only {mutants} mutants");
}

#[test]
fn nested_members_of_the_wrong_json_type_are_rejected_with_rule_type() {
    let original = example("WithFullCombinationOfFields/object_event_all_possible_fields.jsonld");
    let event = "/epcisBody/eventList/0";
    for (member, value) in [
        ("errorDeclaration/declarationTime", json!(20061107)),
        ("errorDeclaration/correctiveEventIDs", json!("ni:///x")),
        (
            "quantityList/0",
            json!("urn:epc:class:lgtin:4012345.012345.998877"),
        ),
        ("quantityList/0/quantity", json!("200")),
        ("quantityList/0/uom", json!(3)),
        ("readPoint/id", json!(["urn:epc:id:sgln:0012345.11111.400"])),
        ("bizTransactionList/0/bizTransaction", json!({})),
        ("sourceList/0/source", json!(null)),
        ("sensorElementList/0/sensorMetadata", json!([])),
        ("sensorElementList/0/sensorReport", json!({})),
        ("sensorElementList/0/sensorReport/0/value", json!("26")),
        (
            "sensorElementList/0/sensorReport/0/booleanValue",
            json!("true"),
        ),
        ("sensorElementList/0/sensorReport/0/stringValue", json!(1)),
        (
            "sensorElementList/0/sensorReport/0/time",
            json!(1_563_541_200),
        ),
        ("persistentDisposition/set", json!("completeness_verified")),
    ] {
        let pointer = format!("{event}/{member}");
        let mut mutant = original.clone();
        set(&mut mutant, &pointer, value.clone());
        assert_rejected(
            &mutant,
            &pointer,
            Rule::Type,
            &format!("{member} = {value}"),
        );
    }
}

/// One hand-made mutant of an example: a member set to a bad value (or removed), and where and
/// how it must be rejected.
struct Case {
    file: &'static str,
    /// Pointer to edit, relative to the first event (`/...`) or absolute (`^/...`).
    edit: &'static str,
    /// `None` removes the member.
    value: Option<Value>,
    /// Pointer expected in the violation, relative like `edit` (empty: the event itself).
    at: &'static str,
    rule: Rule,
}

const OBJECT: &str = "Example_9.6.1-ObjectEvent.jsonld";
const FULL_OBJECT: &str = "WithFullCombinationOfFields/object_event_all_possible_fields.jsonld";
const AGGREGATION: &str = "Example_9.6.3-AggregationEvent.jsonld";
const TRANSFORMATION: &str = "Example_9.6.4-TransformationEvent.jsonld";
const TRANSACTION: &str =
    "WithFullCombinationOfFields/transaction_event_all_possible_fields.jsonld";
const ASSOCIATION: &str = "AssociationEvent/AssociationEvent-a.jsonld";
const SENSOR: &str = "WithSensorData/SensorDataExample1.jsonld";
const QUERY: &str = "EPCISQueryDocument.jsonld";

fn case(file: &'static str, edit: &'static str, value: Value, rule: Rule) -> Case {
    Case {
        file,
        edit,
        value: Some(value),
        at: edit,
        rule,
    }
}

fn case_at(
    file: &'static str,
    edit: &'static str,
    value: Option<Value>,
    at: &'static str,
    rule: Rule,
) -> Case {
    Case {
        file,
        edit,
        value,
        at,
        rule,
    }
}

fn resolve(document: &Value, relative: &str) -> String {
    match relative.strip_prefix('^') {
        Some(absolute) => absolute.to_owned(),
        None => format!("{}/0{relative}", event_list_pointer(document)),
    }
}

fn hand_made_cases() -> Vec<Case> {
    vec![
        // Timestamps and offsets.
        case(
            OBJECT,
            "/eventTime",
            json!("2005-04-03T20:33:31.116"),
            Rule::Format,
        ),
        case(
            OBJECT,
            "/eventTime",
            json!("2005-04-03 20:33:31.116Z"),
            Rule::Format,
        ),
        case(
            OBJECT,
            "/eventTime",
            json!("2005-13-03T20:33:31.116Z"),
            Rule::Format,
        ),
        case(
            OBJECT,
            "/eventTime",
            json!("2005-02-30T20:33:31Z"),
            Rule::Format,
        ),
        case(OBJECT, "/eventTime", json!("yesterday"), Rule::Format),
        case(
            OBJECT,
            "/recordTime",
            json!("2005-04-03T25:00:00Z"),
            Rule::Format,
        ),
        case(
            OBJECT,
            "/eventTimeZoneOffset",
            json!("+15:00"),
            Rule::Pattern,
        ),
        case(
            OBJECT,
            "/eventTimeZoneOffset",
            json!("+14:30"),
            Rule::Pattern,
        ),
        case(
            OBJECT,
            "/eventTimeZoneOffset",
            json!("-0600"),
            Rule::Pattern,
        ),
        case(
            OBJECT,
            "/eventTimeZoneOffset",
            json!("06:00"),
            Rule::Pattern,
        ),
        case(OBJECT, "/eventTimeZoneOffset", json!("Z"), Rule::Pattern),
        case(OBJECT, "^/creationDate", json!("2005-07-11"), Rule::Format),
        case(
            FULL_OBJECT,
            "/errorDeclaration/declarationTime",
            json!("2006-11-07T14:00"),
            Rule::Format,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorMetadata/startTime",
            json!("noon"),
            Rule::Format,
        ),
        // Enumerations and vocabularies.
        case(OBJECT, "/action", json!("MOVE"), Rule::Enum),
        case(OBJECT, "/action", json!("observe"), Rule::Enum),
        case(OBJECT, "/bizStep", json!("shippping"), Rule::Enum),
        case(
            OBJECT,
            "/bizStep",
            json!("urn:epcglobal:cbv:bizstep:shipping"),
            Rule::Pattern,
        ),
        case(
            OBJECT,
            "/bizStep",
            json!("https://ns.gs1.org/cbv/BizStep-shipping"),
            Rule::Pattern,
        ),
        // Spellings the schema admits and tagtrail does not: one spelling per standard term.
        case(
            OBJECT,
            "/bizStep",
            json!("https://ref.gs1.org/cbv/BizStep-shipping"),
            Rule::Spelling,
        ),
        case(
            OBJECT,
            "/bizStep",
            json!("cbv:BizStep-shipping"),
            Rule::Spelling,
        ),
        case(
            OBJECT,
            "/disposition",
            json!("cbv:Disp-in_transit"),
            Rule::Spelling,
        ),
        case(OBJECT, "/disposition", json!("in transit"), Rule::Enum),
        case(
            OBJECT,
            "/disposition",
            json!("urn:epcglobal:cbv:disp:in_transit"),
            Rule::Pattern,
        ),
        case(
            OBJECT,
            "/bizTransactionList/0/type",
            json!("purchase_order"),
            Rule::Enum,
        ),
        case(
            FULL_OBJECT,
            "/sourceList/0/type",
            json!("owner"),
            Rule::Enum,
        ),
        case(
            FULL_OBJECT,
            "/errorDeclaration/reason",
            json!("oops"),
            Rule::Enum,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport/0/type",
            json!("Temperatur"),
            Rule::Enum,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport/0/type",
            json!("https://gs1.org/voc/Temperature"),
            Rule::Pattern,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport/0/exception",
            json!("ALARM"),
            Rule::Enum,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport/0/component",
            json!("w"),
            Rule::Enum,
        ),
        case(
            FULL_OBJECT,
            "/persistentDisposition/set/0",
            json!("complete"),
            Rule::Enum,
        ),
        // URIs and identifiers.
        case(OBJECT, "/epcList/0", json!("not a uri"), Rule::Format),
        case(
            OBJECT,
            "/epcList/0",
            json!("0614141.107346.2017"),
            Rule::Format,
        ),
        case(
            OBJECT,
            "/epcList/0",
            json!("urn:epc:id:sgtin:0614141.107346"),
            Rule::Identifier,
        ),
        case(
            OBJECT,
            "/epcList/0",
            json!("urn:epc:id:sgtin:0614141.1073466.2017"),
            Rule::Identifier,
        ),
        case(
            OBJECT,
            "/epcList/0",
            json!("urn:epc:id:sgtn:0614141.107346.2017"),
            Rule::Identifier,
        ),
        case(
            OBJECT,
            "/epcList/0",
            json!("urn:epc:class:lgtin:4012345.012345.998877"),
            Rule::Identifier,
        ),
        case(
            OBJECT,
            "/epcList/1",
            json!("urn:epc:id:sgtin:0614141.107346.2017"),
            Rule::UniqueItems,
        ),
        case(
            OBJECT,
            "/epcList/0",
            json!("https://id.gs1.org/01/09506000134353/21/12345"),
            Rule::Identifier,
        ),
        case(
            OBJECT,
            "/epcList/0",
            json!("https://id.example.com/01/950600013435/21/1"),
            Rule::Identifier,
        ),
        case(
            OBJECT,
            "/readPoint/id",
            json!("https://id.gs1.org/414/4012345000055"),
            Rule::Identifier,
        ),
        case(
            OBJECT,
            "/readPoint/id",
            json!("urn:epc:id:sgln:0614141.07346"),
            Rule::Identifier,
        ),
        case(OBJECT, "/readPoint/id", json!("Dock door 4"), Rule::Format),
        case(OBJECT, "/eventID", json!("not-a-uri"), Rule::Format),
        case(
            FULL_OBJECT,
            "/quantityList/0/epcClass",
            json!("lgtin 4012345.012345.998877"),
            Rule::Format,
        ),
        case(
            FULL_OBJECT,
            "/quantityList/0/epcClass",
            json!("urn:epc:id:sgtin:0614141.107346.2017"),
            Rule::Identifier,
        ),
        case(
            FULL_OBJECT,
            "/certificationInfo",
            json!("certificate ABC"),
            Rule::Format,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport/0/deviceID",
            json!("sensor 1"),
            Rule::Format,
        ),
        case(
            AGGREGATION,
            "/parentID",
            json!("urn:epc:id:sscc:0614141.12345"),
            Rule::Identifier,
        ),
        case(OBJECT, "^/@context", json!("not a uri"), Rule::Format),
        case(OBJECT, "^/id", json!("document 1"), Rule::Format),
        // Quantities and units.
        case(
            FULL_OBJECT,
            "/quantityList/0/quantity",
            json!(-5),
            Rule::Minimum,
        ),
        case(
            FULL_OBJECT,
            "/quantityList/0/quantity",
            json!(-0.5),
            Rule::Minimum,
        ),
        case(
            FULL_OBJECT,
            "/quantityList/0/uom",
            json!("kg"),
            Rule::Pattern,
        ),
        case(
            FULL_OBJECT,
            "/quantityList/0/uom",
            json!("KGMS"),
            Rule::Pattern,
        ),
        case(
            FULL_OBJECT,
            "/quantityList/0/color",
            json!("red"),
            Rule::UnknownMember,
        ),
        case(
            FULL_OBJECT,
            "/quantityList/0/example:color",
            json!("red"),
            Rule::UnknownMember,
        ),
        case_at(
            FULL_OBJECT,
            "/quantityList/0/epcClass",
            None,
            "/quantityList/0/epcClass",
            Rule::Required,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport/0/hexBinaryValue",
            json!("f0g0"),
            Rule::Pattern,
        ),
        // Member names.
        case(OBJECT, "/myField", json!("x"), Rule::UnknownMember),
        case(
            OBJECT,
            "/parentID",
            json!("urn:epc:id:sscc:0614141.1234567890"),
            Rule::UnknownMember,
        ),
        case(TRANSFORMATION, "/action", json!("ADD"), Rule::UnknownMember),
        case(
            FULL_OBJECT,
            "/ilmd/lotNumber",
            json!("ABC"),
            Rule::UnknownMember,
        ),
        case(
            FULL_OBJECT,
            "/errorDeclaration/note",
            json!("x"),
            Rule::UnknownMember,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/note",
            json!("x"),
            Rule::UnknownMember,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorMetadata/note",
            json!("x"),
            Rule::UnknownMember,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport/0/note",
            json!("x"),
            Rule::UnknownMember,
        ),
        case(
            FULL_OBJECT,
            "/bizTransactionList/0/example:note",
            json!("x"),
            Rule::UnknownMember,
        ),
        case(
            FULL_OBJECT,
            "/sourceList/0/note",
            json!("x"),
            Rule::UnknownMember,
        ),
        case(
            FULL_OBJECT,
            "/persistentDisposition/keep",
            json!(["active"]),
            Rule::UnknownMember,
        ),
        case(OBJECT, "^/note", json!("x"), Rule::UnknownMember),
        case(
            QUERY,
            "^/epcisBody/queryResults/note",
            json!("x"),
            Rule::UnknownMember,
        ),
        // Cross-member rules and empty lists.
        case(FULL_OBJECT, "/action", json!("OBSERVE"), Rule::Forbidden).at("/ilmd"),
        case(FULL_OBJECT, "/action", json!("DELETE"), Rule::Forbidden).at("/ilmd"),
        case(
            TRANSACTION,
            "/bizTransactionList",
            json!([]),
            Rule::MinItems,
        ),
        case(
            FULL_OBJECT,
            "/persistentDisposition",
            json!({}),
            Rule::Required,
        ),
        case(
            FULL_OBJECT,
            "/persistentDisposition/set",
            json!([]),
            Rule::MinItems,
        ),
        case(
            FULL_OBJECT,
            "/persistentDisposition/unset/1",
            json!("completeness_inferred"),
            Rule::UniqueItems,
        ),
        case(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport",
            json!([]),
            Rule::MinItems,
        ),
        case_at(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport",
            None,
            "/sensorElementList/0/sensorReport",
            Rule::Required,
        ),
        case_at(
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport/0/type",
            None,
            "/sensorElementList/0/sensorReport/0/type",
            Rule::Required,
        ),
        case_at(
            FULL_OBJECT,
            "/errorDeclaration/declarationTime",
            None,
            "/errorDeclaration/declarationTime",
            Rule::Required,
        ),
        case_at(
            FULL_OBJECT,
            "/sourceList/0/type",
            None,
            "/sourceList/0/type",
            Rule::Required,
        ),
        case_at(
            FULL_OBJECT,
            "/destinationList/0/destination",
            None,
            "/destinationList/0/destination",
            Rule::Required,
        ),
        case_at(
            FULL_OBJECT,
            "/bizTransactionList/0/bizTransaction",
            None,
            "/bizTransactionList/0/bizTransaction",
            Rule::Required,
        ),
        case_at(
            OBJECT,
            "/readPoint/id",
            None,
            "/readPoint/id",
            Rule::Required,
        ),
        case_at(OBJECT, "/epcList", None, "", Rule::Required),
        case_at(TRANSFORMATION, "/outputEPCList", None, "", Rule::Required),
        case_at(
            QUERY,
            "^/epcisBody/queryResults/queryName",
            None,
            "^/epcisBody/queryResults/queryName",
            Rule::Required,
        ),
        case_at(
            QUERY,
            "^/epcisBody/queryResults/resultsBody",
            None,
            "^/epcisBody/queryResults/resultsBody",
            Rule::Required,
        ),
        // Document header.
        case(OBJECT, "^/schemaVersion", json!("1.2"), Rule::Version),
        case(OBJECT, "^/schemaVersion", json!("two"), Rule::Pattern),
        case(OBJECT, "^/schemaVersion", json!(2.0), Rule::Type),
        case(OBJECT, "^/@context", json!(42), Rule::Type),
        case(OBJECT, "^/epcisBody/eventList", json!({}), Rule::Type),
        case(FULL_OBJECT, "^/sender", json!(5), Rule::Type),
        // Parse-time rejections: the event or document type, events that are not objects.
        case(OBJECT, "/type", json!("FooEvent"), Rule::Enum),
        case(OBJECT, "/type", json!(7), Rule::Type),
        case(OBJECT, "^/type", json!("EPCISDoc"), Rule::Enum),
        case(
            OBJECT,
            "^/epcisBody/eventList/0",
            json!("an event"),
            Rule::Type,
        ),
        case(ASSOCIATION, "/childEPCs", json!([]), Rule::MinItems),
    ]
}

impl Case {
    fn at(mut self, at: &'static str) -> Self {
        self.at = at;
        self
    }
}

#[test]
fn hand_made_mutants_are_rejected_with_the_expected_pointer_and_rule() {
    for case in hand_made_cases() {
        let mut mutant = example(case.file);
        let edit = resolve(&mutant, case.edit);
        let at = resolve(&mutant, case.at);
        let context = format!("{}: {edit} = {:?}", case.file, case.value);
        match case.value {
            Some(value) => set(&mut mutant, &edit, value),
            None => remove(&mut mutant, &edit),
        }
        assert_rejected(&mutant, at.trim_end_matches('/'), case.rule, &context);
    }
}

#[test]
fn stricter_rules_are_the_only_ones_the_schema_does_not_share() {
    // The mutants above that only break a stricter rule must be accepted by the schema alone;
    // `assert_agrees_with_schema` checks it. Here: one of each, to show the list is not empty.
    let mut negative = example(FULL_OBJECT);
    set(
        &mut negative,
        "/epcisBody/eventList/0/quantityList/0/quantity",
        json!(-1),
    );
    assert!(official_schema().is_valid(&negative));
    let verdict = our_verdict(&negative);
    assert!(
        verdict
            .violations()
            .iter()
            .all(|v| is_stricter_than_schema(v))
    );
    assert!(!verdict.is_valid());
}

#[test]
fn valid_variations_are_accepted() {
    let variations: Vec<(&str, &str, Option<Value>)> = vec![
        // An empty epcList is allowed (minItems 0) on an ObjectEvent.
        (OBJECT, "/epcList", Some(json!([]))),
        // Extensions named by prefixes or full IRIs, anywhere the schema allows them.
        (
            OBJECT,
            "/example:myField",
            Some(json!({"example:nested": [1, "two", null]})),
        ),
        (OBJECT, "/https:~1~1example.org~1ns#field", Some(json!(3.5))),
        (OBJECT, "/readPoint/example:door", Some(json!("north"))),
        (OBJECT, "/readPoint/door", Some(json!("north"))),
        (
            FULL_OBJECT,
            "/ilmd/https:~1~1example.org~1lot",
            Some(json!("L1")),
        ),
        (
            FULL_OBJECT,
            "/sensorElementList/0/sensorReport/0/example:extra",
            Some(json!(1)),
        ),
        // Bizstep and disposition as private URIs.
        (
            OBJECT,
            "/bizStep",
            Some(json!("https://example.org/bizstep/counting")),
        ),
        (
            OBJECT,
            "/disposition",
            Some(json!("urn:example:disp:quarantined")),
        ),
        // Offsets at the edges of the range, UTC written as +00:00 and as -00:00.
        (OBJECT, "/eventTimeZoneOffset", Some(json!("+14:00"))),
        (OBJECT, "/eventTimeZoneOffset", Some(json!("-13:59"))),
        (OBJECT, "/eventTimeZoneOffset", Some(json!("-00:00"))),
        (
            OBJECT,
            "/eventTime",
            Some(json!("2005-04-03T20:33:31+05:45")),
        ),
        (
            OBJECT,
            "/eventTime",
            Some(json!("2005-04-03T20:33:31.123456789Z")),
        ),
        // A quantity of zero, a quantity without unit, a quantity element with no quantity.
        (FULL_OBJECT, "/quantityList/0/quantity", Some(json!(0))),
        (FULL_OBJECT, "/quantityList/0/uom", None),
        (FULL_OBJECT, "/quantityList/0/quantity", None),
        // GS1 Digital Link URIs as identifiers, and other URIs outside the EPC namespace.
        (
            OBJECT,
            "/epcList/0",
            Some(json!("https://id.gs1.org/01/09506000134352/21/12345")),
        ),
        (
            OBJECT,
            "/readPoint/id",
            Some(json!("geo:42.698334,23.319941")),
        ),
        // An AssociationEvent that deletes all children of a parent.
        (ASSOCIATION, "/childEPCs", None),
        // A TransformationEvent with an ID and only outputs.
        (TRANSFORMATION, "/inputEPCList", None),
        // schemaVersion 2.x.
        (OBJECT, "^/schemaVersion", Some(json!("2.1"))),
    ];
    for (file, edit, value) in variations {
        let mut variant = example(file);
        let pointer = resolve(&variant, edit);
        let context = format!("{file}: {pointer} = {value:?}");
        if file == ASSOCIATION && edit == "/childEPCs" {
            set(
                &mut variant,
                "/epcisBody/eventList/0/action",
                json!("DELETE"),
            );
        }
        if file == TRANSFORMATION && edit == "/inputEPCList" {
            remove(&mut variant, "/epcisBody/eventList/0/inputQuantityList");
            set(
                &mut variant,
                "/epcisBody/eventList/0/transformationID",
                json!("urn:epc:id:gdti:0614141.12345.400"),
            );
        }
        match value {
            Some(value) => set(&mut variant, &pointer, value),
            None => remove(&mut variant, &pointer),
        }
        assert_accepted(&variant, &context);
    }
}

#[test]
fn violations_report_every_problem_not_just_the_first() {
    let mut mutant = example(OBJECT);
    set(&mut mutant, "/epcisBody/eventList/0/action", json!("MOVE"));
    set(
        &mut mutant,
        "/epcisBody/eventList/1/eventTimeZoneOffset",
        json!("+25:00"),
    );
    set(&mut mutant, "/creationDate", json!("today"));
    let verdict = our_verdict(&mutant);
    let found: Vec<(Option<usize>, &str, Rule)> = verdict
        .violations()
        .iter()
        .map(|v| (v.event_index(), v.pointer(), v.rule()))
        .collect();
    assert_eq!(
        found,
        vec![
            (None, "/creationDate", Rule::Format),
            (Some(0), "/epcisBody/eventList/0/action", Rule::Enum),
            (
                Some(1),
                "/epcisBody/eventList/1/eventTimeZoneOffset",
                Rule::Pattern
            ),
        ]
    );
}

#[test]
fn pointers_escape_slashes_in_extension_member_names() {
    let mut mutant = example(OBJECT);
    set(
        &mut mutant,
        "/epcisBody/eventList/0/https:~1~1example.org~1a b",
        json!(1),
    );
    let verdict = our_verdict(&mutant);
    let violations = verdict.violations();
    assert_eq!(violations.len(), 1, "{verdict:#?}");
    assert_eq!(
        violations[0].pointer(),
        "/epcisBody/eventList/0/https:~1~1example.org~1a b"
    );
    assert_eq!(violations[0].rule(), Rule::UnknownMember);
    assert_agrees_with_schema(&mutant, "extension named by a malformed IRI");
}

#[test]
fn a_standalone_event_needs_its_own_context() {
    let document = example(OBJECT);
    let mut event = document.pointer("/epcisBody/eventList/0").unwrap().clone();
    let parsed = Event::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
    let violations = validate_event(&parsed).unwrap_err();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].pointer(), "/@context");
    assert_eq!(violations[0].rule(), Rule::Required);
    assert_eq!(violations[0].event_index(), None);
    assert!(!official_schema().is_valid(&event));

    set(&mut event, "/@context", document["@context"].clone());
    let parsed = Event::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
    assert_eq!(validate_event(&parsed), Ok(()));
    assert!(official_schema().is_valid(&event));
}

#[test]
fn an_event_of_a_document_is_validated_alone_with_pointers_into_the_document() {
    let mut mutant = example(OBJECT);
    set(
        &mut mutant,
        "/epcisBody/eventList/1/bizStep",
        json!("urn:epcglobal:cbv:bizstep:receiving"),
    );
    let document = Document::parse(&serde_json::to_vec(&mutant).unwrap()).unwrap();
    assert_eq!(validate_event(&document.events()[0]), Ok(()));
    let violations = validate_event(&document.events()[1]).unwrap_err();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].pointer(), "/epcisBody/eventList/1/bizStep");
    assert_eq!(violations[0].rule(), Rule::Pattern);
    assert!(
        violations[0].message().contains("\"receiving\""),
        "{}",
        violations[0].message()
    );
}

#[test]
fn a_standard_term_under_a_declared_prefix_is_read_as_the_hash_reads_it() {
    // The document declares `g` for the CBV namespace and an event declares `step` for its
    // business steps: both spell `receiving`, as the event hash expands them.
    let mut mutant = example(OBJECT);
    set(
        &mut mutant,
        "/@context",
        json!([
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "http://ns.example.com/epcis/", "g": "https://ref.gs1.org/cbv/"}
        ]),
    );
    set(
        &mut mutant,
        "/epcisBody/eventList/0/bizStep",
        json!("g:BizStep-receiving"),
    );
    set(
        &mut mutant,
        "/epcisBody/eventList/1/@context",
        json!([{"step": "https://ref.gs1.org/cbv/BizStep-"}]),
    );
    set(
        &mut mutant,
        "/epcisBody/eventList/1/bizStep",
        json!("step:receiving"),
    );
    for index in 0..2 {
        let pointer = format!("/epcisBody/eventList/{index}/bizStep");
        assert_rejected(&mutant, &pointer, Rule::Spelling, "declared prefix");
    }
    let verdict = our_verdict(&mutant);
    for violation in verdict.violations() {
        assert!(
            violation
                .message()
                .ends_with("write the bare word \"receiving\""),
            "{}",
            violation.message()
        );
    }
    // A prefix of a private vocabulary names a term of its own.
    set(
        &mut mutant,
        "/epcisBody/eventList/0/bizStep",
        json!("example:receiving"),
    );
    set(
        &mut mutant,
        "/epcisBody/eventList/1/bizStep",
        json!("receiving"),
    );
    assert_accepted(&mutant, "private prefix");

    // A context that gives `cbv` another IRI, in the document or in an event, is refused:
    // `cbv:BizStep-receiving` would hash as a private term and read as a receipt.
    let mut mutant = example(OBJECT);
    set(
        &mut mutant,
        "/@context",
        json!([
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "http://ns.example.com/epcis/", "cbv": "https://example.org/"}
        ]),
    );
    assert_rejected(&mutant, "/@context/1/cbv", Rule::Spelling, "cbv redefined");
    let mut mutant = example(OBJECT);
    set(
        &mut mutant,
        "/epcisBody/eventList/0/@context",
        json!({"cbv": {"@id": "https://example.org/voc/"}}),
    );
    assert_rejected(
        &mutant,
        "/epcisBody/eventList/0/@context/cbv",
        Rule::Spelling,
        "cbv redefined by an event",
    );
    // Declaring it as the standard context does is no redefinition.
    set(
        &mut mutant,
        "/epcisBody/eventList/0/@context",
        json!({"cbv": "https://ref.gs1.org/cbv/"}),
    );
    assert_accepted(&mutant, "cbv as the standard declares it");
}

#[test]
fn a_query_document_reports_pointers_into_its_results_body() {
    let mut mutant = example(QUERY);
    let pointer = "/epcisBody/queryResults/resultsBody/eventList/1/eventTime";
    set(&mut mutant, pointer, json!("2005-04-04T20:33:31.116"));
    assert_rejected(&mutant, pointer, Rule::Format, "query document event time");
}

#[test]
fn bytes_that_are_not_json_are_a_json_error() {
    for bytes in [
        &b""[..],
        b"{",
        b"[1,2",
        b"{\"type\": \"EPCISDocument\",}",
        b"\xff\xfe",
    ] {
        assert!(matches!(
            Document::parse(bytes),
            Err(epcis::document::ParseError::Json(_))
        ));
    }
}

#[test]
fn an_object_event_with_only_sensor_data_needs_a_read_point() {
    let mut sensor_only = example(SENSOR);
    remove(&mut sensor_only, "/epcisBody/eventList/0/epcList");
    assert_accepted(&sensor_only, "sensor data with readPoint");
    remove(&mut sensor_only, "/epcisBody/eventList/0/readPoint");
    assert_rejected(
        &sensor_only,
        "/epcisBody/eventList/0/readPoint",
        Rule::Required,
        "sensor data without readPoint",
    );
}
