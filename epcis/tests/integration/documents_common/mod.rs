//! Shared by the `documents_*` tests: the GS1 example files, JSON pointer edits, our verdict and
//! the official schema's verdict on the same JSON.

#![allow(dead_code)] // Each test file uses a different part of this module.
#![allow(clippy::unwrap_used)] // Test helpers: a failure to read the test data is a test failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use epcis::document::{Document, ParseError};
use epcis::validate::{Rule, Violation, validate};
use serde_json::Value;

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/gs1-epcis")
}

/// The path of every `*.jsonld` under `examples/`, sorted.
pub fn example_paths() -> Vec<PathBuf> {
    fn walk(directory: &Path, found: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "jsonld")
            {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&testdata().join("examples"), &mut files);
    files.sort();
    files
}

/// Every `*.jsonld` under `examples/`, sorted, with its parsed JSON.
pub fn examples() -> Vec<(String, Value)> {
    let root = testdata().join("examples");
    example_paths()
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(&root).unwrap().display().to_string();
            let value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
            (name, value)
        })
        .collect()
}

/// One example, by its path under `examples/`.
pub fn example(name: &str) -> Value {
    let path = testdata().join("examples").join(name);
    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
}

/// The pointer of a document's event list.
pub fn event_list_pointer(document: &Value) -> &'static str {
    if document["type"] == "EPCISQueryDocument" {
        "/epcisBody/queryResults/resultsBody/eventList"
    } else {
        "/epcisBody/eventList"
    }
}

fn split(pointer: &str) -> (&str, String) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    (parent, last.replace("~1", "/").replace("~0", "~"))
}

/// Removes the member or element at `pointer`.
pub fn remove(document: &mut Value, pointer: &str) {
    let (parent, last) = split(pointer);
    match document.pointer_mut(parent) {
        Some(Value::Object(object)) => {
            assert!(object.shift_remove(&last).is_some(), "nothing at {pointer}");
        }
        Some(Value::Array(items)) => {
            items.remove(last.parse::<usize>().unwrap());
        }
        _ => panic!("no container at {parent}"),
    }
}

/// Sets (adds or replaces) the member or element at `pointer`.
pub fn set(document: &mut Value, pointer: &str, value: Value) {
    let (parent, last) = split(pointer);
    match document.pointer_mut(parent) {
        Some(Value::Object(object)) => {
            object.insert(last, value);
        }
        Some(Value::Array(items)) => {
            let index = last.parse::<usize>().unwrap();
            if index == items.len() {
                items.push(value);
            } else {
                items[index] = value;
            }
        }
        _ => panic!("no container at {parent}"),
    }
}

/// What our parser and validator say about a JSON document.
#[derive(Debug)]
pub enum Verdict {
    Valid,
    /// `Document::parse` refused it; the violation says where and why (`None` for bad JSON).
    Unparsable(Option<Violation>),
    Invalid(Vec<Violation>),
}

impl Verdict {
    pub fn violations(&self) -> Vec<&Violation> {
        match self {
            Verdict::Valid => Vec::new(),
            Verdict::Unparsable(violation) => violation.iter().collect(),
            Verdict::Invalid(violations) => violations.iter().collect(),
        }
    }

    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid)
    }
}

pub fn our_verdict(document: &Value) -> Verdict {
    let bytes = serde_json::to_vec(document).unwrap();
    match Document::parse(&bytes) {
        Err(ParseError::Json(_)) => Verdict::Unparsable(None),
        Err(ParseError::Structure(violation)) => Verdict::Unparsable(Some(violation)),
        Ok(parsed) => match validate(&parsed) {
            Ok(()) => Verdict::Valid,
            Err(violations) => Verdict::Invalid(violations),
        },
    }
}

/// The inlined official schema (`EPCIS-JSON-Schema.json`), formats checked.
pub fn official_schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema: Value =
            serde_json::from_slice(&fs::read(testdata().join("EPCIS-JSON-Schema.json")).unwrap())
                .unwrap();
        jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    })
}

/// The schema's complaints, for failure messages.
pub fn schema_errors(document: &Value) -> Vec<String> {
    official_schema()
        .iter_errors(document)
        .map(|error| format!("{} {error}", error.instance_path()))
        .collect()
}

/// Rules where we are deliberately stricter than the schema, which would accept the value:
/// negative quantities, non-2.x versions, malformed EPC URIs and Digital Link URIs.
pub fn is_stricter_than_schema(violation: &Violation) -> bool {
    matches!(
        violation.rule(),
        Rule::Minimum | Rule::Version | Rule::Identifier | Rule::Spelling
    )
}

/// Asserts that the official schema and we agree: we accept exactly what it accepts, except for
/// documents whose only violations are ones where we are stricter by design.
pub fn assert_agrees_with_schema(document: &Value, context: &str) {
    let ours = our_verdict(document);
    let schema_accepts = official_schema().is_valid(document);
    let violations = ours.violations();
    let only_stricter =
        !violations.is_empty() && violations.iter().all(|v| is_stricter_than_schema(v));
    let expected_schema_verdict = ours.is_valid() || only_stricter;
    assert_eq!(
        schema_accepts,
        expected_schema_verdict,
        "{context}: the schema {} but we said {ours:#?}\nschema errors: {:#?}\ndocument: {document}",
        if schema_accepts { "accepts" } else { "rejects" },
        schema_errors(document)
    );
}
