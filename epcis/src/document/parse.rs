//! EPCIS 2.0 JSON/JSON-LD documents: `EPCISDocument` and `EPCISQueryDocument`.

use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::event::{Event, Origin};
use super::time::Timestamp;
use crate::json::{self, Node, Object};
use crate::validate::{Rule, Violation};

/// Why bytes could not be read as an EPCIS document or event.
///
/// Only what is needed to build the model is checked here: JSON syntax, the document `type`, and
/// that the event list holds typed event objects. Everything else is reported by
/// [`crate::validate`], all at once.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not JSON.
    #[error("input is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The JSON cannot be modelled as an EPCIS document or event; the violation names the member
    /// (a JSON pointer) and the rule broken.
    #[error("input is not an EPCIS document: {0}")]
    Structure(Violation),
}

impl ParseError {
    /// The structural violation, if the input was JSON.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Self::Json(_) => None,
            Self::Structure(violation) => Some(violation),
        }
    }
}

/// The two document types of the EPCIS 2.0 JSON binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// `EPCISDocument`: events under `epcisBody.eventList`.
    Document,
    /// `EPCISQueryDocument`: query results under `epcisBody.queryResults.resultsBody.eventList`.
    QueryDocument,
}

impl DocumentKind {
    /// The `type` value.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Document => "EPCISDocument",
            Self::QueryDocument => "EPCISQueryDocument",
        }
    }

    /// The path of member names from the document root to the event list.
    pub(crate) fn event_list_path(self) -> &'static [&'static str] {
        match self {
            Self::Document => &["epcisBody", "eventList"],
            Self::QueryDocument => &["epcisBody", "queryResults", "resultsBody", "eventList"],
        }
    }

    fn origin(self) -> Origin {
        match self {
            Self::Document => Origin::Document,
            Self::QueryDocument => Origin::QueryDocument,
        }
    }
}

/// An EPCIS 2.0 document, parsed once.
///
/// The root object is kept as received, except that the event objects are moved out of the
/// event list into [`Event`]s (no copy). Events are read into a lean ordered form, not into
/// `serde_json::Map`s: that is most of what makes parsing fast. [`Document::to_value`] and the `Serialize`
/// implementation put them back where they were, so the document serialises to the same JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    kind: DocumentKind,
    root: Map<String, Value>,
    events: Vec<Event>,
    /// Whether the event list was found (as an array) and moved into `events`.
    events_taken: bool,
}

impl Document {
    /// Parses an `EPCISDocument` or an `EPCISQueryDocument` from JSON bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let node = json::parse(bytes).map_err(ParseError::Json)?;
        Self::from_node(node)
    }

    /// Builds a document from an already parsed JSON value, without copying its strings.
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        Self::from_node(Node::from_value(value))
    }

    fn from_node(node: Node) -> Result<Self, ParseError> {
        let Node::Object(mut root) = node else {
            return Err(structure(
                "",
                Rule::Type,
                "an EPCIS document must be a JSON object",
            ));
        };
        let kind = match root.get("type") {
            Some(Node::String(name)) if name == "EPCISDocument" => DocumentKind::Document,
            Some(Node::String(name)) if name == "EPCISQueryDocument" => DocumentKind::QueryDocument,
            Some(Node::String(name)) => {
                return Err(structure(
                    "/type",
                    Rule::Enum,
                    format!(
                        "document type {name:?} is neither EPCISDocument nor EPCISQueryDocument"
                    ),
                ));
            }
            Some(_) => {
                return Err(structure(
                    "/type",
                    Rule::Type,
                    "document type must be a string",
                ));
            }
            None => {
                return Err(structure(
                    "/type",
                    Rule::Required,
                    "document type is required",
                ));
            }
        };

        let mut events = Vec::new();
        let events_taken = match event_node_mut(&mut root, kind.event_list_path()) {
            Some(Node::Array(items)) => {
                let items = std::mem::take(items);
                events.reserve_exact(items.len());
                for (index, item) in items.into_iter().enumerate() {
                    let Node::Object(raw) = item else {
                        return Err(ParseError::Structure(Violation::new(
                            Some(index),
                            format!("{}/{index}", kind.origin().event_list_pointer()),
                            Rule::Type,
                            "an event must be a JSON object",
                        )));
                    };
                    events.push(Event::new(index, kind.origin(), raw)?);
                }
                true
            }
            _ => false,
        };
        Ok(Self {
            kind,
            root: root.into_map(),
            events,
            events_taken,
        })
    }

    /// Which of the two document types this is.
    pub fn kind(&self) -> DocumentKind {
        self.kind
    }

    /// The events, in document order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the events out of the document.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// The document-level `@context` (needed with each event to compute its CBV event hash).
    pub fn context(&self) -> Option<&Value> {
        self.root.get("@context")
    }

    /// `schemaVersion` as written (`"2.0"`).
    pub fn schema_version(&self) -> Option<&str> {
        self.root.get("schemaVersion").and_then(Value::as_str)
    }

    /// `creationDate`, parsed.
    pub fn creation_date(&self) -> Option<Timestamp> {
        self.root
            .get("creationDate")
            .and_then(Value::as_str)
            .and_then(|text| Timestamp::parse(text).ok())
    }

    /// The document's `id`, if it has one.
    pub fn id(&self) -> Option<&str> {
        self.root.get("id").and_then(Value::as_str)
    }

    /// `instanceIdentifier` (`EPCISDocument` only).
    pub fn instance_identifier(&self) -> Option<&str> {
        self.root.get("instanceIdentifier").and_then(Value::as_str)
    }

    /// `sender` (`EPCISDocument` only).
    pub fn sender(&self) -> Option<&str> {
        self.root.get("sender").and_then(Value::as_str)
    }

    /// `receiver` (`EPCISDocument` only).
    pub fn receiver(&self) -> Option<&str> {
        self.root.get("receiver").and_then(Value::as_str)
    }

    /// `epcisHeader` (`EPCISDocument` only).
    pub fn header(&self) -> Option<&Map<String, Value>> {
        self.root.get("epcisHeader").and_then(Value::as_object)
    }

    /// The master-data vocabularies of `epcisHeader.epcisMasterData.vocabularyList`
    /// (each `{"type": ..., "vocabularyElementList": [...]}`); empty when there are none.
    pub fn master_data(&self) -> &[Value] {
        self.header()
            .and_then(|header| header.get("epcisMasterData"))
            .and_then(|master_data| master_data.get("vocabularyList"))
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// `epcisBody.queryResults.queryName` (`EPCISQueryDocument` only).
    pub fn query_name(&self) -> Option<&str> {
        self.query_results()
            .and_then(|results| results.get("queryName"))
            .and_then(Value::as_str)
    }

    /// `epcisBody.queryResults.subscriptionID` (`EPCISQueryDocument` only).
    pub fn subscription_id(&self) -> Option<&str> {
        self.query_results()
            .and_then(|results| results.get("subscriptionID"))
            .and_then(Value::as_str)
    }

    /// `epcisBody.queryResults.resultsBody.vocabularyList` (`EPCISQueryDocument` only).
    pub fn query_vocabulary_list(&self) -> &[Value] {
        self.query_results()
            .and_then(|results| results.get("resultsBody"))
            .and_then(|body| body.get("vocabularyList"))
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The root object. Its event list is left empty: the events are in [`Document::events`].
    pub fn root(&self) -> &Map<String, Value> {
        &self.root
    }

    /// Whether the event list was present (as a JSON array) in the input.
    pub(crate) fn has_event_list(&self) -> bool {
        self.events_taken
    }

    /// The whole document as JSON, events back in place (this copies the document).
    pub fn to_value(&self) -> Value {
        let mut root = self.root.clone();
        if self.events_taken
            && let Some(list) = event_list_mut(&mut root, self.kind.event_list_path())
        {
            *list = Value::Array(
                self.events
                    .iter()
                    .map(|event| Value::Object(event.members().to_map()))
                    .collect(),
            );
        }
        Value::Object(root)
    }

    /// The JSON text of the whole document (members in their original order).
    pub fn to_json(&self) -> String {
        // Serialising `Value`s into a `String` has no failure path.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn query_results(&self) -> Option<&Map<String, Value>> {
        self.root
            .get("epcisBody")
            .and_then(|body| body.get("queryResults"))
            .and_then(Value::as_object)
    }
}

impl serde::Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let path = if self.events_taken {
            self.kind.event_list_path()
        } else {
            &[]
        };
        WithEvents {
            object: &self.root,
            path,
            events: &self.events,
        }
        .serialize(serializer)
    }
}

/// Serialises `object`, writing `events` in place of the member that `path` leads to.
struct WithEvents<'a> {
    object: &'a Map<String, Value>,
    path: &'a [&'a str],
    events: &'a [Event],
}

impl serde::Serialize for WithEvents<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.object.len()))?;
        for (key, value) in self.object {
            match (self.path, value) {
                ([last], _) if key == last => map.serialize_entry(key, self.events)?,
                ([next, rest @ ..], Value::Object(inner)) if key == next => map.serialize_entry(
                    key,
                    &WithEvents {
                        object: inner,
                        path: rest,
                        events: self.events,
                    },
                )?,
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

fn event_list_mut<'a>(root: &'a mut Map<String, Value>, path: &[&str]) -> Option<&'a mut Value> {
    let (last, parents) = path.split_last()?;
    let mut object = root;
    for key in parents {
        object = object.get_mut(*key)?.as_object_mut()?;
    }
    object.get_mut(*last)
}

/// [`event_list_mut`] on the lean form that documents are parsed into.
fn event_node_mut<'a>(root: &'a mut Object, path: &[&str]) -> Option<&'a mut Node> {
    let (last, parents) = path.split_last()?;
    let mut object = root;
    for key in parents {
        object = match object.get_mut(key)? {
            Node::Object(inner) => inner,
            _ => return None,
        };
    }
    object.get_mut(last)
}

fn structure(pointer: &str, rule: Rule, message: impl Into<String>) -> ParseError {
    ParseError::Structure(Violation::new(None, pointer.to_owned(), rule, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY_DOCUMENT: &str =
        include_str!("../../../testdata/gs1-epcis/examples/EPCISQueryDocument.jsonld");

    const WITH_MASTER_DATA: &str = r#"{
        "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2005-07-11T11:30:47.0Z",
        "epcisHeader": {"epcisMasterData": {"vocabularyList": [
            {"type": "urn:epcglobal:epcis:vtype:ReadPoint",
             "vocabularyElementList": [{"id": "urn:epc:id:sgln:0037000.00729.8201"}]}
        ]}},
        "epcisBody": {"eventList": [
            {"type": "ObjectEvent", "action": "OBSERVE", "epcList": [],
             "eventTime": "2005-04-03T20:33:31.116-06:00", "eventTimeZoneOffset": "-06:00"}
        ]}
    }"#;

    #[test]
    fn a_document_exposes_its_header() {
        let document = Document::parse(WITH_MASTER_DATA.as_bytes()).unwrap();
        assert_eq!(document.kind(), DocumentKind::Document);
        assert_eq!(document.schema_version(), Some("2.0"));
        assert_eq!(
            document.creation_date().unwrap().to_string(),
            "2005-07-11T11:30:47Z"
        );
        assert_eq!(
            document.context(),
            Some(&Value::from(
                "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
            ))
        );
        assert_eq!(document.master_data().len(), 1);
        assert_eq!(
            document.master_data()[0]["type"],
            "urn:epcglobal:epcis:vtype:ReadPoint"
        );
        assert_eq!(document.events().len(), 1);
        assert_eq!(document.query_name(), None);
    }

    #[test]
    fn a_query_document_exposes_its_results() {
        let document = Document::parse(QUERY_DOCUMENT.as_bytes()).unwrap();
        assert_eq!(document.kind(), DocumentKind::QueryDocument);
        assert_eq!(document.query_name(), Some("SimpleEventQuery"));
        assert_eq!(
            document.subscription_id(),
            Some("32d2aec1-a6d2-46d9-900a-24124288cce1")
        );
        assert_eq!(document.id(), Some("https://id.example.org/document1"));
        assert_eq!(document.events().len(), 2);
        assert_eq!(
            document.events()[1].pointer(),
            "/epcisBody/queryResults/resultsBody/eventList/1"
        );
        assert!(document.query_vocabulary_list().is_empty());
    }

    #[test]
    fn the_event_list_is_left_empty_in_the_root_and_restored_on_output() {
        let document = Document::parse(WITH_MASTER_DATA.as_bytes()).unwrap();
        assert_eq!(
            document.root()["epcisBody"]["eventList"],
            Value::Array(Vec::new())
        );
        let original: Value = serde_json::from_str(WITH_MASTER_DATA).unwrap();
        assert_eq!(document.to_value(), original);
        assert_eq!(
            document.to_json(),
            serde_json::to_string(&original).unwrap()
        );
    }

    #[test]
    fn a_document_without_an_event_list_parses_with_no_events() {
        let document =
            Document::parse(br#"{"type":"EPCISDocument","epcisBody":{"events":[]}}"#).unwrap();
        assert!(document.events().is_empty());
        assert!(!document.has_event_list());
        assert_eq!(
            document.to_json(),
            r#"{"type":"EPCISDocument","epcisBody":{"events":[]}}"#
        );
    }

    #[test]
    fn the_document_type_decides_what_the_input_is() {
        let cases: [(&[u8], &str, Rule); 4] = [
            (br#"{"epcisBody":{}}"#, "/type", Rule::Required),
            (br#"{"type":"ObjectEvent"}"#, "/type", Rule::Enum),
            (br#"{"type":["EPCISDocument"]}"#, "/type", Rule::Type),
            (br#""EPCISDocument""#, "", Rule::Type),
        ];
        for (bytes, pointer, rule) in cases {
            let error = Document::parse(bytes).unwrap_err();
            let violation = error.violation().unwrap();
            assert_eq!((violation.pointer(), violation.rule()), (pointer, rule));
            assert_eq!(violation.event_index(), None);
        }
    }

    #[test]
    fn an_event_that_is_not_an_object_is_reported_with_its_index() {
        let error = Document::parse(
            br#"{"type":"EPCISDocument","epcisBody":{"eventList":[{"type":"ObjectEvent"},3]}}"#,
        )
        .unwrap_err();
        let violation = error.violation().unwrap();
        assert_eq!(violation.pointer(), "/epcisBody/eventList/1");
        assert_eq!(violation.event_index(), Some(1));
        assert_eq!(violation.rule(), Rule::Type);
    }

    #[test]
    fn an_event_without_a_type_is_reported_at_its_type_member() {
        let error = Document::parse(
            br#"{"type":"EPCISQueryDocument","epcisBody":{"queryResults":{"resultsBody":{"eventList":[{"action":"ADD"}]}}}}"#,
        )
        .unwrap_err();
        let violation = error.violation().unwrap();
        assert_eq!(
            violation.pointer(),
            "/epcisBody/queryResults/resultsBody/eventList/0/type"
        );
        assert_eq!(violation.rule(), Rule::Required);
    }

    #[test]
    fn invalid_json_is_a_json_error() {
        assert!(matches!(
            Document::parse(b"{\"type\":"),
            Err(ParseError::Json(_))
        ));
    }
}
