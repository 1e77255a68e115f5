//! The checks of a document's header and body (everything but the events themselves).

use serde_json::{Map, Value};

use super::Rule;
use super::format::is_version;
use super::report::{Path, Report};
use super::values::{
    check_context, check_extension_name, check_time, check_uri, expect_array, expect_object,
    expect_str, json_type, require,
};
use crate::document::{Document, DocumentKind};

/// The schema version this crate implements; any 2.x is accepted.
const SUPPORTED_MAJOR_VERSION: &str = "2";

pub(super) fn check_document(document: &Document, report: &mut Report) {
    report.set_event(None);
    let root = document.root();
    let here = Path::base("");
    let kind = document.kind();
    let what = kind.type_name();
    for (key, value) in root {
        let at = here.key(key);
        match (key.as_str(), kind) {
            ("type", _) => {}
            ("@context", _) => check_context(value, &at, report),
            ("id", _) => {
                check_uri(value, &at, report);
            }
            ("schemaVersion", _) => check_schema_version(value, &at, report),
            ("creationDate", _) => check_time(value, &at, report),
            ("instanceIdentifier" | "sender" | "receiver", DocumentKind::Document) => {
                expect_str(value, &at, report);
            }
            ("epcisHeader", DocumentKind::Document) => check_header(value, &at, report),
            ("epcisBody", DocumentKind::Document) => {
                check_document_body(document, value, &at, report);
            }
            ("epcisBody", DocumentKind::QueryDocument) => {
                check_query_body(document, value, &at, report);
            }
            (name, _) => check_extension_name(name, what, &at, report),
        }
    }
    require(root, "@context", what, &here, report);
    require(root, "epcisBody", what, &here, report);
    if kind == DocumentKind::Document {
        require(root, "schemaVersion", what, &here, report);
        require(root, "creationDate", what, &here, report);
    }
}

fn check_schema_version(value: &Value, at: &Path<'_>, report: &mut Report) {
    let Some(version) = expect_str(value, at, report) else {
        return;
    };
    if !is_version(version) {
        report.add(
            at,
            Rule::Pattern,
            format!(
                "schemaVersion must be a dotted version number such as \"2.0\", found {version:?}"
            ),
        );
    } else if version.split('.').next() != Some(SUPPORTED_MAJOR_VERSION) {
        report.add(
            at,
            Rule::Version,
            format!(
                "schemaVersion must be an EPCIS 2.x version such as \"2.0\", found {version:?}"
            ),
        );
    }
}

fn check_header(value: &Value, at: &Path<'_>, report: &mut Report) {
    let Some(header) = expect_object(value, at, report) else {
        return;
    };
    for (key, member) in header {
        let here = at.key(key);
        match key.as_str() {
            "epcisMasterData" => {
                if let Some(master_data) = expect_object(member, &here, report)
                    && let Some(list) = master_data.get("vocabularyList")
                {
                    check_vocabulary_list(list, &here.key("vocabularyList"), report);
                }
            }
            name => check_extension_name(name, "epcisHeader", &here, report),
        }
    }
}

fn check_document_body(document: &Document, value: &Value, at: &Path<'_>, report: &mut Report) {
    let Some(body) = expect_object(value, at, report) else {
        return;
    };
    // Other members of an EPCISDocument body are not constrained by the schema.
    check_event_list_member(document, body, at, report);
}

fn check_query_body(document: &Document, value: &Value, at: &Path<'_>, report: &mut Report) {
    let Some(body) = expect_object(value, at, report) else {
        return;
    };
    for key in body.keys() {
        if key != "queryResults" {
            check_extension_name(key, "epcisBody", &at.key(key), report);
        }
    }
    let here = at.key("queryResults");
    let Some(results) = body.get("queryResults") else {
        report.add(&here, Rule::Required, "epcisBody must have queryResults");
        return;
    };
    let Some(results) = expect_object(results, &here, report) else {
        return;
    };
    for (key, member) in results {
        let there = here.key(key);
        match key.as_str() {
            "queryName" | "subscriptionID" => {
                expect_str(member, &there, report);
            }
            "resultsBody" => {
                if let Some(results_body) = expect_object(member, &there, report) {
                    for (name, value) in results_body {
                        match name.as_str() {
                            "eventList" => {}
                            "vocabularyList" => {
                                check_vocabulary_list(value, &there.key(name), report);
                            }
                            other => {
                                check_extension_name(
                                    other,
                                    "resultsBody",
                                    &there.key(name),
                                    report,
                                );
                            }
                        }
                    }
                    check_event_list_member(document, results_body, &there, report);
                }
            }
            name => check_extension_name(name, "queryResults", &there, report),
        }
    }
    require(results, "queryName", "queryResults", &here, report);
    require(results, "resultsBody", "queryResults", &here, report);
}

/// `eventList` is required and must be a list; its events were moved into the model when it
/// was one, and are checked on their own.
fn check_event_list_member(
    document: &Document,
    container: &Map<String, Value>,
    at: &Path<'_>,
    report: &mut Report,
) {
    let here = at.key("eventList");
    match container.get("eventList") {
        None => report.add(
            &here,
            Rule::Required,
            format!("{} must have eventList", at.name()),
        ),
        Some(_) if document.has_event_list() => {}
        Some(other) => report.add(
            &here,
            Rule::Type,
            format!("eventList must be a list, found {}", json_type(other)),
        ),
    }
}

fn check_vocabulary_list(value: &Value, at: &Path<'_>, report: &mut Report) {
    let Some(vocabularies) = expect_array(value, at, report) else {
        return;
    };
    for (index, vocabulary) in vocabularies.iter().enumerate() {
        let here = at.index(index);
        let Some(vocabulary) = expect_object(vocabulary, &here, report) else {
            continue;
        };
        if let Some(kind) = vocabulary.get("type") {
            check_uri(kind, &here.key("type"), report);
        }
        require(vocabulary, "type", "a vocabulary", &here, report);
        if let Some(elements) = vocabulary.get("vocabularyElementList") {
            check_vocabulary_elements(elements, &here.key("vocabularyElementList"), report);
        }
    }
}

fn check_vocabulary_elements(value: &Value, at: &Path<'_>, report: &mut Report) {
    let Some(elements) = expect_array(value, at, report) else {
        return;
    };
    for (index, element) in elements.iter().enumerate() {
        let here = at.index(index);
        let Some(element) = expect_object(element, &here, report) else {
            continue;
        };
        if let Some(id) = element.get("id") {
            check_uri(id, &here.key("id"), report);
        }
        require(element, "id", "a vocabulary element", &here, report);
        if let Some(attributes) = element.get("attributes") {
            let there = here.key("attributes");
            if let Some(attributes) = expect_array(attributes, &there, report) {
                for (position, attribute) in attributes.iter().enumerate() {
                    check_attribute(attribute, &there.index(position), report);
                }
            }
        }
        if let Some(children) = element.get("children") {
            let there = here.key("children");
            if let Some(children) = expect_array(children, &there, report) {
                for (position, child) in children.iter().enumerate() {
                    check_uri(child, &there.index(position), report);
                }
            }
        }
    }
}

fn check_attribute(value: &Value, at: &Path<'_>, report: &mut Report) {
    let Some(attribute) = expect_object(value, at, report) else {
        return;
    };
    if let Some(id) = attribute.get("id") {
        check_uri(id, &at.key("id"), report);
    }
    require(attribute, "id", "a master-data attribute", at, report);
    if let Some(content) = attribute.get("attribute")
        && !matches!(
            content,
            Value::Number(_) | Value::String(_) | Value::Object(_)
        )
    {
        report.add(
            &at.key("attribute"),
            Rule::Type,
            format!(
                "attribute must be a number, a string or an object, found {}",
                json_type(content)
            ),
        );
    }
}
