//! One EPCIS event: its JSON object exactly as received, plus typed accessors over it.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::parse::ParseError;
use super::time::{TimeZoneOffset, Timestamp};
use super::view::{Objects, Strings};
use crate::json::{self, Json, Node, Object};
use crate::validate::format::is_uri;
use crate::validate::{Rule, Violation};

/// The five EPCIS 2.0 event types, plus extension types named by an absolute URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `ObjectEvent`: something happened to objects (EPCs or quantities).
    Object,
    /// `AggregationEvent`: children were put into or taken out of a parent.
    Aggregation,
    /// `TransactionEvent`: objects were tied to or untied from business transactions.
    Transaction,
    /// `TransformationEvent`: inputs were consumed to make outputs.
    Transformation,
    /// `AssociationEvent`: components were associated with or dissociated from a parent.
    Association,
    /// A user-defined event type whose `type` is an absolute URI (the schema's `Extended-Event`).
    Extension,
}

impl EventKind {
    /// The kind named by an event's `type` member, if it is one of the five standard names or
    /// an absolute URI.
    pub fn from_type_name(name: &str) -> Option<Self> {
        Some(match name {
            "ObjectEvent" => Self::Object,
            "AggregationEvent" => Self::Aggregation,
            "TransactionEvent" => Self::Transaction,
            "TransformationEvent" => Self::Transformation,
            "AssociationEvent" => Self::Association,
            other if is_uri(other) => Self::Extension,
            _ => return None,
        })
    }

    /// The standard `type` value, or `None` for an extension type.
    pub fn standard_name(self) -> Option<&'static str> {
        Some(match self {
            Self::Object => "ObjectEvent",
            Self::Aggregation => "AggregationEvent",
            Self::Transaction => "TransactionEvent",
            Self::Transformation => "TransformationEvent",
            Self::Association => "AssociationEvent",
            Self::Extension => return None,
        })
    }
}

/// The `action` of an Object, Aggregation, Transaction or Association event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `ADD`: the objects came into being or were associated.
    Add,
    /// `OBSERVE`: the objects were seen, nothing changed.
    Observe,
    /// `DELETE`: the objects ceased to exist or were disassociated.
    Delete,
}

/// A string that is not one of `ADD`, `OBSERVE`, `DELETE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("action must be ADD, OBSERVE or DELETE")]
pub struct UnknownAction;

impl Action {
    /// Parses the exact, upper-case action word.
    pub fn parse(text: &str) -> Result<Self, UnknownAction> {
        match text {
            "ADD" => Ok(Self::Add),
            "OBSERVE" => Ok(Self::Observe),
            "DELETE" => Ok(Self::Delete),
            _ => Err(UnknownAction),
        }
    }

    /// The word as written in EPCIS.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "ADD",
            Self::Observe => "OBSERVE",
            Self::Delete => "DELETE",
        }
    }
}

/// Which list of an event an identifier or quantity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpcRole {
    /// `epcList` / `quantityList` (Object and Transaction events).
    Object,
    /// `parentID` (Aggregation, Transaction and Association events).
    Parent,
    /// `childEPCs` / `childQuantityList` (Aggregation and Association events).
    Child,
    /// `inputEPCList` / `inputQuantityList` (Transformation events).
    Input,
    /// `outputEPCList` / `outputQuantityList` (Transformation events).
    Output,
}

/// Where an event sits, so that violations can be reported with a pointer into the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A single event posted on its own; pointers start at the event.
    Standalone,
    /// `/epcisBody/eventList/<index>` of an `EPCISDocument`.
    Document,
    /// `/epcisBody/queryResults/resultsBody/eventList/<index>` of an `EPCISQueryDocument`.
    QueryDocument,
}

impl Origin {
    pub(crate) fn event_list_pointer(self) -> &'static str {
        match self {
            Self::Standalone => "",
            Self::Document => "/epcisBody/eventList",
            Self::QueryDocument => "/epcisBody/queryResults/resultsBody/eventList",
        }
    }
}

/// One EPCIS event.
///
/// The event keeps its JSON object exactly as it was received (members in document order,
/// extension members and their values untouched) so that it serialises back to the same JSON
/// and the CBV event hash can be computed from it. The accessors read that object; they return
/// `None` (or nothing) for a member that is absent or has the wrong JSON type, so run
/// [`crate::validate`] first when the input is untrusted.
#[derive(Debug, Clone)]
pub struct Event {
    index: usize,
    kind: EventKind,
    origin: Origin,
    /// The JSON object in the lean form that parsing, validation and hashing use.
    members: Object,
    /// The same object as a `serde_json::Map`, built on the first call of [`Event::raw`].
    raw: OnceLock<Map<String, Value>>,
}

/// Events are equal when they sit at the same place and their JSON objects are equal.
impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
            && self.kind == other.kind
            && self.origin == other.origin
            && self.members == other.members
    }
}

impl Event {
    /// Parses a single event object (as posted to a capture `events` endpoint). Only the JSON
    /// syntax and the event `type` are checked here; everything else is [`crate::validate`]'s job.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let node = json::parse(bytes).map_err(ParseError::Json)?;
        match node {
            Node::Object(members) => Self::new(0, Origin::Standalone, members),
            _ => Err(ParseError::Structure(Violation::new(
                None,
                String::new(),
                Rule::Type,
                "an event must be a JSON object",
            ))),
        }
    }

    /// Takes ownership of a single event object (its strings are moved, not copied).
    pub fn from_map(raw: Map<String, Value>) -> Result<Self, ParseError> {
        Self::new(0, Origin::Standalone, Object::from_map(raw))
    }

    pub(crate) fn new(index: usize, origin: Origin, members: Object) -> Result<Self, ParseError> {
        let kind = match members.get("type") {
            Some(Node::String(name)) => EventKind::from_type_name(name),
            _ => None,
        };
        match kind {
            Some(kind) => Ok(Self {
                index,
                kind,
                origin,
                members,
                raw: OnceLock::new(),
            }),
            None => {
                let (rule, message) = match members.get("type") {
                    None => (Rule::Required, "event type is required".to_owned()),
                    Some(Node::String(name)) => (
                        Rule::Enum,
                        format!(
                            "event type {name:?} is neither ObjectEvent, AggregationEvent, \
                             TransactionEvent, TransformationEvent, AssociationEvent nor an \
                             absolute URI"
                        ),
                    ),
                    Some(_) => (Rule::Type, "event type must be a string".to_owned()),
                };
                let event = (origin != Origin::Standalone).then_some(index);
                let pointer = match event {
                    Some(index) => format!("{}/{index}/type", origin.event_list_pointer()),
                    None => "/type".to_owned(),
                };
                Err(ParseError::Structure(Violation::new(
                    event, pointer, rule, message,
                )))
            }
        }
    }

    /// Whether the event has a member of that name, whatever its value.
    pub fn has_member(&self, name: &str) -> bool {
        self.members.get(name).is_some()
    }

    /// The event's position in its document's event list (0 for a standalone event).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether the event was parsed on its own rather than from a document.
    pub fn is_standalone(&self) -> bool {
        self.origin == Origin::Standalone
    }

    /// The JSON pointer of the event object in its input (`/epcisBody/eventList/3`, or the
    /// empty pointer for a standalone event).
    pub fn pointer(&self) -> String {
        match self.origin {
            Origin::Standalone => String::new(),
            origin => format!("{}/{}", origin.event_list_pointer(), self.index),
        }
    }

    pub(crate) fn origin(&self) -> Origin {
        self.origin
    }

    /// The event type.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The `type` member as written (the URI for an extension type).
    pub fn type_name(&self) -> &str {
        self.str_member("type").unwrap_or_default()
    }

    /// The event's JSON object, exactly as received. The `Map` is built on the first call
    /// (parsing does not build one) and kept.
    pub fn raw(&self) -> &Map<String, Value> {
        self.raw.get_or_init(|| self.members.to_map())
    }

    /// Gives the JSON object back (moving its strings, not copying them).
    pub fn into_raw(self) -> Map<String, Value> {
        match self.raw.into_inner() {
            Some(raw) => raw,
            None => self.members.into_map(),
        }
    }

    /// The event's JSON object in the lean form that validation and hashing read.
    pub(crate) fn members(&self) -> &Object {
        &self.members
    }

    /// The JSON text of the event (members in their original order).
    pub fn to_json(&self) -> String {
        // Serialising JSON values has no failure path: keys are strings and every number is
        // finite.
        serde_json::to_string(&self.members).unwrap_or_default()
    }

    /// An event-level `@context`, if the event carries one (standalone events must).
    pub fn context(&self) -> Option<&Value> {
        self.raw().get("@context")
    }

    /// Whether the event carries an `@context` of its own (without building [`raw`](Self::raw)).
    pub fn has_context(&self) -> bool {
        self.members.get("@context").is_some()
    }

    /// Whether the event carries an `errorDeclaration` (without building [`raw`](Self::raw)).
    pub fn has_error_declaration(&self) -> bool {
        self.members.get("errorDeclaration").is_some()
    }

    /// The JSON text of the event with `context` as its `@context`, written first, then the
    /// event's other members in their original order: for an event that carries no `@context` of
    /// its own, [`to_json`](Self::to_json) made self-contained. An `@context` of the event's own
    /// is replaced, not merged (merging is the caller's to do, before).
    pub fn to_json_with_context(&self, context: &Value) -> String {
        struct WithContext<'a>(&'a Value, &'a Object);
        impl serde::Serialize for WithContext<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap as _;
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("@context", self.0)?;
                for (key, value) in self.1.iter().filter(|(key, _)| *key != "@context") {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
        // As in `to_json`: serialising JSON values cannot fail.
        serde_json::to_string(&WithContext(context, &self.members)).unwrap_or_default()
    }

    /// `eventTime`, parsed.
    pub fn event_time(&self) -> Option<Timestamp> {
        self.str_member("eventTime")
            .and_then(|text| Timestamp::parse(text).ok())
    }

    /// `eventTimeZoneOffset`, parsed.
    pub fn event_time_zone_offset(&self) -> Option<TimeZoneOffset> {
        self.str_member("eventTimeZoneOffset")
            .and_then(|text| TimeZoneOffset::parse(text).ok())
    }

    /// `recordTime`, parsed (set by the repository that captured the event).
    pub fn record_time(&self) -> Option<Timestamp> {
        self.str_member("recordTime")
            .and_then(|text| Timestamp::parse(text).ok())
    }

    /// `eventID`.
    pub fn event_id(&self) -> Option<&str> {
        self.str_member("eventID")
    }

    /// `certificationInfo`: one URI or a list of them.
    pub fn certification_info(&self) -> Strings<'_> {
        match self.raw().get("certificationInfo") {
            Some(Value::String(single)) => Strings::one(single),
            other => Strings::of(other),
        }
    }

    /// `errorDeclaration`, if the event declares an earlier event erroneous.
    pub fn error_declaration(&self) -> Option<ErrorDeclaration<'_>> {
        self.object_member("errorDeclaration").map(ErrorDeclaration)
    }

    /// `action` (absent on Transformation events).
    pub fn action(&self) -> Option<Action> {
        self.str_member("action")
            .and_then(|text| Action::parse(text).ok())
    }

    /// `bizStep` as written: a CBV bare word such as `shipping`, or a URI.
    pub fn biz_step(&self) -> Option<&str> {
        self.str_member("bizStep")
    }

    /// `disposition` as written: a CBV bare word such as `in_transit`, or a URI.
    pub fn disposition(&self) -> Option<&str> {
        self.str_member("disposition")
    }

    /// `persistentDisposition` (`set` and `unset` lists).
    pub fn persistent_disposition(&self) -> Option<PersistentDisposition<'_>> {
        self.object_member("persistentDisposition")
            .map(PersistentDisposition)
    }

    /// `readPoint.id`.
    pub fn read_point(&self) -> Option<&str> {
        self.node_object_member("readPoint")
            .and_then(|point| point.get("id"))
            .and_then(Json::as_str)
    }

    /// The whole `readPoint` object (it may carry extension members besides `id`).
    pub fn read_point_object(&self) -> Option<&Map<String, Value>> {
        self.object_member("readPoint")
    }

    /// `bizLocation.id`.
    pub fn biz_location(&self) -> Option<&str> {
        self.node_object_member("bizLocation")
            .and_then(|location| location.get("id"))
            .and_then(Json::as_str)
    }

    /// The whole `bizLocation` object (it may carry extension members besides `id`).
    pub fn biz_location_object(&self) -> Option<&Map<String, Value>> {
        self.object_member("bizLocation")
    }

    /// `epcList` (Object and Transaction events).
    pub fn epc_list(&self) -> Strings<'_> {
        Strings::of_node(self.members.get("epcList"))
    }

    /// `parentID` (Aggregation, Transaction and Association events).
    pub fn parent_id(&self) -> Option<&str> {
        self.str_member("parentID")
    }

    /// `childEPCs` (Aggregation and Association events).
    pub fn child_epcs(&self) -> Strings<'_> {
        Strings::of_node(self.members.get("childEPCs"))
    }

    /// `inputEPCList` (Transformation events).
    pub fn input_epc_list(&self) -> Strings<'_> {
        Strings::of_node(self.members.get("inputEPCList"))
    }

    /// `outputEPCList` (Transformation events).
    pub fn output_epc_list(&self) -> Strings<'_> {
        Strings::of_node(self.members.get("outputEPCList"))
    }

    /// Every instance-level identifier the event names, with the list it comes from:
    /// `parentID`, then `epcList`, `childEPCs`, `inputEPCList`, `outputEPCList`.
    pub fn epcs(&self) -> impl Iterator<Item = (EpcRole, &str)> + '_ {
        let parent = self.parent_id().map(|id| (EpcRole::Parent, id));
        parent
            .into_iter()
            .chain(self.epc_list().map(|epc| (EpcRole::Object, epc)))
            .chain(self.child_epcs().map(|epc| (EpcRole::Child, epc)))
            .chain(self.input_epc_list().map(|epc| (EpcRole::Input, epc)))
            .chain(self.output_epc_list().map(|epc| (EpcRole::Output, epc)))
    }

    /// `quantityList` (Object and Transaction events).
    pub fn quantity_list(&self) -> Objects<'_, QuantityElement<'_>> {
        Objects::of(self.raw().get("quantityList"), QuantityElement)
    }

    /// `childQuantityList` (Aggregation and Association events).
    pub fn child_quantity_list(&self) -> Objects<'_, QuantityElement<'_>> {
        Objects::of(self.raw().get("childQuantityList"), QuantityElement)
    }

    /// `inputQuantityList` (Transformation events).
    pub fn input_quantity_list(&self) -> Objects<'_, QuantityElement<'_>> {
        Objects::of(self.raw().get("inputQuantityList"), QuantityElement)
    }

    /// `outputQuantityList` (Transformation events).
    pub fn output_quantity_list(&self) -> Objects<'_, QuantityElement<'_>> {
        Objects::of(self.raw().get("outputQuantityList"), QuantityElement)
    }

    /// Every quantity element of the event, with the list it comes from.
    pub fn quantities(&self) -> impl Iterator<Item = (EpcRole, QuantityElement<'_>)> + '_ {
        self.quantity_list()
            .map(|element| (EpcRole::Object, element))
            .chain(
                self.child_quantity_list()
                    .map(|element| (EpcRole::Child, element)),
            )
            .chain(
                self.input_quantity_list()
                    .map(|element| (EpcRole::Input, element)),
            )
            .chain(
                self.output_quantity_list()
                    .map(|element| (EpcRole::Output, element)),
            )
    }

    /// `transformationID` (Transformation events).
    pub fn transformation_id(&self) -> Option<&str> {
        self.str_member("transformationID")
    }

    /// `bizTransactionList`.
    pub fn biz_transactions(&self) -> Objects<'_, BizTransaction<'_>> {
        Objects::of(self.raw().get("bizTransactionList"), BizTransaction)
    }

    /// `sourceList`.
    pub fn sources(&self) -> Objects<'_, SourceOrDestination<'_>> {
        Objects::of(self.raw().get("sourceList"), SourceOrDestination)
    }

    /// `destinationList`.
    pub fn destinations(&self) -> Objects<'_, SourceOrDestination<'_>> {
        Objects::of(self.raw().get("destinationList"), SourceOrDestination)
    }

    /// `sensorElementList`.
    pub fn sensor_elements(&self) -> Objects<'_, SensorElement<'_>> {
        Objects::of(self.raw().get("sensorElementList"), SensorElement)
    }

    /// `ilmd` (instance/lot master data; Object and Transformation events with action ADD).
    pub fn ilmd(&self) -> Option<&Map<String, Value>> {
        self.object_member("ilmd")
    }

    /// A string member of `ilmd` (such as `cbvmda:lotNumber`), read without building the event's
    /// JSON map.
    pub fn ilmd_str(&self, name: &str) -> Option<&str> {
        self.node_object_member("ilmd")
            .and_then(|ilmd| ilmd.get(name))
            .and_then(Json::as_str)
    }

    /// The members that are not standard fields of this event type (user extensions such as
    /// `example:myField`), in document order.
    pub fn extensions(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        let kind = self.kind;
        self.raw()
            .iter()
            .filter(move |(key, _)| !is_standard_member(kind, key))
            .map(|(key, value)| (key.as_str(), value))
    }

    fn str_member(&self, key: &str) -> Option<&str> {
        self.members.get(key).and_then(Json::as_str)
    }

    fn node_object_member(&self, key: &str) -> Option<&Object> {
        match self.members.get(key) {
            Some(Node::Object(object)) => Some(object),
            _ => None,
        }
    }

    fn object_member(&self, key: &str) -> Option<&Map<String, Value>> {
        self.raw().get(key).and_then(Value::as_object)
    }
}

impl serde::Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.members.serialize(serializer)
    }
}

/// The members every event type may carry (the schema's `common-event-properties`).
const COMMON_MEMBERS: &[&str] = &[
    "@context",
    "type",
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "certificationInfo",
    "errorDeclaration",
];

/// The standard members of each event type besides the common ones, as the schema lists them.
pub(crate) fn specific_members(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::Object => &[
            "action",
            "epcList",
            "quantityList",
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
        ],
        EventKind::Aggregation | EventKind::Association => &[
            "parentID",
            "childEPCs",
            "childQuantityList",
            "action",
            "bizStep",
            "disposition",
            "readPoint",
            "bizLocation",
            "bizTransactionList",
            "sourceList",
            "destinationList",
            "sensorElementList",
        ],
        EventKind::Transaction => &[
            "bizTransactionList",
            "parentID",
            "epcList",
            "quantityList",
            "action",
            "bizStep",
            "disposition",
            "readPoint",
            "bizLocation",
            "sourceList",
            "destinationList",
            "sensorElementList",
        ],
        EventKind::Transformation => &[
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
        ],
        EventKind::Extension => &[],
    }
}

/// Whether `key` is a standard member of an event of `kind`.
pub(crate) fn is_standard_member(kind: EventKind, key: &str) -> bool {
    COMMON_MEMBERS.contains(&key) || specific_members(kind).contains(&key)
}

/// A quantity element: `epcClass`, `quantity` and `uom`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantityElement<'a>(&'a Map<String, Value>);

impl<'a> QuantityElement<'a> {
    /// `epcClass`: an EPC class URI, an EPC pattern URI or a GS1 Digital Link URI.
    pub fn epc_class(self) -> Option<&'a str> {
        self.0.get("epcClass").and_then(Value::as_str)
    }

    /// `quantity`, if given (absent means an unknown number of instances).
    pub fn quantity(self) -> Option<f64> {
        self.0.get("quantity").and_then(Value::as_f64)
    }

    /// `uom`: a UN/CEFACT Recommendation 20 unit code such as `KGM`; absent for a count.
    pub fn uom(self) -> Option<&'a str> {
        self.0.get("uom").and_then(Value::as_str)
    }

    /// The element's JSON object.
    pub fn raw(self) -> &'a Map<String, Value> {
        self.0
    }
}

/// A business transaction reference: `type` and `bizTransaction`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BizTransaction<'a>(&'a Map<String, Value>);

impl<'a> BizTransaction<'a> {
    /// `type`: a CBV bare word such as `po`, or a URI.
    pub fn transaction_type(self) -> Option<&'a str> {
        self.0.get("type").and_then(Value::as_str)
    }

    /// `bizTransaction`: the transaction's identifier (a URI).
    pub fn id(self) -> Option<&'a str> {
        self.0.get("bizTransaction").and_then(Value::as_str)
    }
}

/// An element of `sourceList` or `destinationList`: `type` and `source` / `destination`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceOrDestination<'a>(&'a Map<String, Value>);

impl<'a> SourceOrDestination<'a> {
    /// `type`: `owning_party`, `possessing_party`, `location`, or a URI.
    pub fn party_type(self) -> Option<&'a str> {
        self.0.get("type").and_then(Value::as_str)
    }

    /// The `source` or `destination` identifier, whichever the element carries.
    pub fn id(self) -> Option<&'a str> {
        self.0
            .get("source")
            .or_else(|| self.0.get("destination"))
            .and_then(Value::as_str)
    }
}

/// `errorDeclaration`: `declarationTime`, `reason`, `correctiveEventIDs` and extensions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorDeclaration<'a>(&'a Map<String, Value>);

impl<'a> ErrorDeclaration<'a> {
    /// `declarationTime`, parsed.
    pub fn declaration_time(self) -> Option<Timestamp> {
        self.0
            .get("declarationTime")
            .and_then(Value::as_str)
            .and_then(|text| Timestamp::parse(text).ok())
    }

    /// `reason`: `did_not_occur`, `incorrect_data`, or a URI.
    pub fn reason(self) -> Option<&'a str> {
        self.0.get("reason").and_then(Value::as_str)
    }

    /// `correctiveEventIDs`.
    pub fn corrective_event_ids(self) -> Strings<'a> {
        Strings::of(self.0.get("correctiveEventIDs"))
    }

    /// The declaration's JSON object (with any extension members).
    pub fn raw(self) -> &'a Map<String, Value> {
        self.0
    }
}

/// `persistentDisposition`: dispositions that are `set` and `unset` from now on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersistentDisposition<'a>(&'a Map<String, Value>);

impl<'a> PersistentDisposition<'a> {
    /// `set`.
    pub fn set(self) -> Strings<'a> {
        Strings::of(self.0.get("set"))
    }

    /// `unset`.
    pub fn unset(self) -> Strings<'a> {
        Strings::of(self.0.get("unset"))
    }
}

/// An element of `sensorElementList`: `sensorMetadata`, `sensorReport` and extensions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorElement<'a>(&'a Map<String, Value>);

impl<'a> SensorElement<'a> {
    /// `sensorMetadata`.
    pub fn metadata(self) -> Option<SensorMetadata<'a>> {
        self.0
            .get("sensorMetadata")
            .and_then(Value::as_object)
            .map(SensorMetadata)
    }

    /// `sensorReport`.
    pub fn reports(self) -> Objects<'a, SensorReport<'a>> {
        Objects::of(self.0.get("sensorReport"), SensorReport)
    }

    /// The element's JSON object (with any extension members).
    pub fn raw(self) -> &'a Map<String, Value> {
        self.0
    }
}

/// `sensorMetadata`: what is common to all reports of a sensor element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorMetadata<'a>(&'a Map<String, Value>);

impl<'a> SensorMetadata<'a> {
    /// `time`, parsed.
    pub fn time(self) -> Option<Timestamp> {
        time_member(self.0, "time")
    }

    /// `startTime`, parsed.
    pub fn start_time(self) -> Option<Timestamp> {
        time_member(self.0, "startTime")
    }

    /// `endTime`, parsed.
    pub fn end_time(self) -> Option<Timestamp> {
        time_member(self.0, "endTime")
    }

    /// `deviceID`, `deviceMetadata`, `rawData`, `dataProcessingMethod` or `bizRules`.
    pub fn uri(self, member: SensorUri) -> Option<&'a str> {
        self.0.get(member.as_str()).and_then(Value::as_str)
    }

    /// The metadata's JSON object (with any extension members).
    pub fn raw(self) -> &'a Map<String, Value> {
        self.0
    }
}

/// The URI-valued members shared by `sensorMetadata` and `sensorReport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorUri {
    /// `deviceID`.
    DeviceId,
    /// `deviceMetadata`.
    DeviceMetadata,
    /// `rawData`.
    RawData,
    /// `dataProcessingMethod`.
    DataProcessingMethod,
    /// `bizRules`.
    BizRules,
}

impl SensorUri {
    /// The member name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeviceId => "deviceID",
            Self::DeviceMetadata => "deviceMetadata",
            Self::RawData => "rawData",
            Self::DataProcessingMethod => "dataProcessingMethod",
            Self::BizRules => "bizRules",
        }
    }
}

/// The numeric members of a `sensorReport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorNumber {
    /// `value`.
    Value,
    /// `minValue`.
    MinValue,
    /// `maxValue`.
    MaxValue,
    /// `meanValue`.
    MeanValue,
    /// `sDev`.
    StandardDeviation,
    /// `percRank`.
    PercentileRank,
    /// `percValue`.
    PercentileValue,
}

impl SensorNumber {
    /// The member name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Value => "value",
            Self::MinValue => "minValue",
            Self::MaxValue => "maxValue",
            Self::MeanValue => "meanValue",
            Self::StandardDeviation => "sDev",
            Self::PercentileRank => "percRank",
            Self::PercentileValue => "percValue",
        }
    }
}

/// One `sensorReport` entry: a measurement or an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorReport<'a>(&'a Map<String, Value>);

impl<'a> SensorReport<'a> {
    /// `type`: a measurement type such as `Temperature`, or a URI.
    pub fn measurement_type(self) -> Option<&'a str> {
        self.str("type")
    }

    /// `exception`: `ALARM_CONDITION`, `ERROR_CONDITION`, or a URI.
    pub fn exception(self) -> Option<&'a str> {
        self.str("exception")
    }

    /// `time`, parsed.
    pub fn time(self) -> Option<Timestamp> {
        time_member(self.0, "time")
    }

    /// `deviceID`, `deviceMetadata`, `rawData`, `dataProcessingMethod` or `bizRules`.
    pub fn uri(self, member: SensorUri) -> Option<&'a str> {
        self.str(member.as_str())
    }

    /// `microorganism` (a URI).
    pub fn microorganism(self) -> Option<&'a str> {
        self.str("microorganism")
    }

    /// `chemicalSubstance` (a URI).
    pub fn chemical_substance(self) -> Option<&'a str> {
        self.str("chemicalSubstance")
    }

    /// `coordinateReferenceSystem` (a URI).
    pub fn coordinate_reference_system(self) -> Option<&'a str> {
        self.str("coordinateReferenceSystem")
    }

    /// `component`: `x`, `latitude`, ... or a URI.
    pub fn component(self) -> Option<&'a str> {
        self.str("component")
    }

    /// One of the numeric members (`value`, `minValue`, `sDev`, ...).
    pub fn number(self, member: SensorNumber) -> Option<f64> {
        self.0.get(member.as_str()).and_then(Value::as_f64)
    }

    /// `value`.
    pub fn value(self) -> Option<f64> {
        self.number(SensorNumber::Value)
    }

    /// `stringValue`.
    pub fn string_value(self) -> Option<&'a str> {
        self.str("stringValue")
    }

    /// `booleanValue`.
    pub fn boolean_value(self) -> Option<bool> {
        self.0.get("booleanValue").and_then(Value::as_bool)
    }

    /// `hexBinaryValue`, as written (hex digits).
    pub fn hex_binary_value(self) -> Option<&'a str> {
        self.str("hexBinaryValue")
    }

    /// `uriValue`.
    pub fn uri_value(self) -> Option<&'a str> {
        self.str("uriValue")
    }

    /// `uom`: a UN/CEFACT Recommendation 20 unit code such as `CEL`.
    pub fn uom(self) -> Option<&'a str> {
        self.str("uom")
    }

    /// The report's JSON object (with any extension members).
    pub fn raw(self) -> &'a Map<String, Value> {
        self.0
    }

    fn str(self, key: &str) -> Option<&'a str> {
        self.0.get(key).and_then(Value::as_str)
    }
}

fn time_member(object: &Map<String, Value>, key: &str) -> Option<Timestamp> {
    object
        .get(key)
        .and_then(Value::as_str)
        .and_then(|text| Timestamp::parse(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Document;

    #[test]
    fn json_with_a_context_puts_it_first_and_replaces_the_event_s_own() {
        let context = serde_json::json!([{"ex": "https://ex.example/"}]);
        let plain =
            Event::parse(br#"{"type":"ObjectEvent","action":"OBSERVE","n":[1,2.5,null]}"#).unwrap();
        assert_eq!(
            plain.to_json_with_context(&context),
            r#"{"@context":[{"ex":"https://ex.example/"}],"type":"ObjectEvent","action":"OBSERVE","n":[1,2.5,null]}"#
        );
        let own = Event::parse(
            br#"{"type":"ObjectEvent","@context":{"o":"https://o.example/"},"action":"ADD"}"#,
        )
        .unwrap();
        assert_eq!(
            own.to_json_with_context(&context),
            r#"{"@context":[{"ex":"https://ex.example/"}],"type":"ObjectEvent","action":"ADD"}"#
        );
    }

    const FULL_OBJECT_EVENT: &str = include_str!(
        "../../../testdata/gs1-epcis/examples/WithFullCombinationOfFields/object_event_all_possible_fields.jsonld"
    );
    const FULL_TRANSFORMATION_EVENT: &str = include_str!(
        "../../../testdata/gs1-epcis/examples/WithFullCombinationOfFields/transformation_event_all_possible_fields.jsonld"
    );
    const FULL_AGGREGATION_EVENT: &str = include_str!(
        "../../../testdata/gs1-epcis/examples/WithFullCombinationOfFields/aggregation_event_all_possible_fields.jsonld"
    );

    fn first_event(document: &str) -> Event {
        Document::parse(document.as_bytes())
            .unwrap()
            .into_events()
            .remove(0)
    }

    #[test]
    fn the_common_fields_read_as_typed_values() {
        let event = first_event(FULL_OBJECT_EVENT);
        assert_eq!(event.kind(), EventKind::Object);
        assert_eq!(event.type_name(), "ObjectEvent");
        assert_eq!(event.index(), 0);
        // 2005-04-05T02:33:31.116Z is 1112668411.116 s after the epoch.
        let time = event.event_time().unwrap();
        assert_eq!(time.unix_millis(), 1_112_668_411_116);
        assert_eq!(time.offset_minutes(), 0);
        assert_eq!(event.event_time_zone_offset().unwrap().minutes(), -360);
        assert_eq!(event.record_time(), None);
        assert_eq!(
            event.event_id(),
            Some("urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8")
        );
        assert_eq!(
            event.certification_info().collect::<Vec<_>>(),
            ["https://accreditation-council.example.org/certificate/ABC12345"]
        );
        let declaration = event.error_declaration().unwrap();
        assert_eq!(declaration.reason(), Some("incorrect_data"));
        assert_eq!(
            declaration.declaration_time().unwrap().to_string(),
            "2006-11-07T14:00:00+01:00"
        );
        assert_eq!(declaration.corrective_event_ids().count(), 1);
    }

    #[test]
    fn the_what_where_and_why_fields_read_as_typed_values() {
        let event = first_event(FULL_OBJECT_EVENT);
        assert_eq!(event.action(), Some(Action::Add));
        assert_eq!(event.biz_step(), Some("receiving"));
        assert_eq!(event.disposition(), Some("in_progress"));
        assert_eq!(
            event.read_point(),
            Some("urn:epc:id:sgln:0012345.11111.400")
        );
        assert_eq!(
            event.biz_location(),
            Some("urn:epc:id:sgln:0012345.11111.0")
        );
        assert_eq!(
            event.epcs().collect::<Vec<_>>(),
            [(EpcRole::Object, "urn:epc:id:sgtin:0614141.107346.2018")]
        );
        let (role, quantity) = event.quantities().next().unwrap();
        assert_eq!(role, EpcRole::Object);
        assert_eq!(
            quantity.epc_class(),
            Some("urn:epc:class:lgtin:4012345.012345.998877")
        );
        assert_eq!(quantity.quantity(), Some(200.0));
        assert_eq!(quantity.uom(), Some("KGM"));
        let transactions: Vec<_> = event
            .biz_transactions()
            .map(|t| (t.transaction_type(), t.id()))
            .collect();
        assert_eq!(
            transactions,
            [
                (Some("po"), Some("urn:epc:id:gdti:0614141.00001.1618034")),
                (Some("pedigree"), Some("urn:epc:id:gsrn:0614141.0000010253")),
            ]
        );
        let sources: Vec<_> = event.sources().map(|s| s.party_type()).collect();
        assert_eq!(
            sources,
            [
                Some("location"),
                Some("possessing_party"),
                Some("owning_party")
            ]
        );
        assert_eq!(
            event.destinations().next().unwrap().id(),
            Some("urn:epc:id:sgln:0614141.00777.0")
        );
        let persistent = event.persistent_disposition().unwrap();
        assert_eq!(
            persistent.set().collect::<Vec<_>>(),
            ["completeness_verified"]
        );
        assert_eq!(
            persistent.unset().collect::<Vec<_>>(),
            ["completeness_inferred"]
        );
        assert_eq!(
            event.ilmd().unwrap().get("cbvmda:lotNumber"),
            Some(&Value::from("ABC123"))
        );
    }

    #[test]
    fn sensor_elements_expose_every_standard_attribute() {
        let event = first_event(FULL_OBJECT_EVENT);
        let element = event.sensor_elements().next().unwrap();
        let metadata = element.metadata().unwrap();
        assert_eq!(metadata.time().unwrap().to_string(), "2019-04-02T13:05:00Z");
        assert_eq!(
            metadata.start_time().unwrap().to_string(),
            "2019-04-02T12:55:01Z"
        );
        assert_eq!(
            metadata.end_time().unwrap().to_string(),
            "2019-04-02T13:55:00Z"
        );
        assert_eq!(
            metadata.uri(SensorUri::DeviceId),
            Some("urn:epc:id:giai:4000001.111")
        );
        assert_eq!(
            metadata.raw().get("ext1:someFurtherMetadata"),
            Some(&Value::from("someText"))
        );
        let report = element.reports().next().unwrap();
        assert_eq!(report.measurement_type(), Some("Temperature"));
        assert_eq!(report.value(), Some(26.0));
        assert_eq!(report.number(SensorNumber::MaxValue), Some(26.2));
        assert_eq!(report.number(SensorNumber::StandardDeviation), Some(0.1));
        assert_eq!(report.number(SensorNumber::PercentileRank), Some(50.0));
        assert_eq!(report.component(), Some("example:x"));
        assert_eq!(report.string_value(), Some("SomeString"));
        assert_eq!(report.boolean_value(), Some(true));
        assert_eq!(report.hex_binary_value(), Some("f0f0f0"));
        assert_eq!(
            report.uri_value(),
            Some("https://id.gs1.org/8004/4000001111")
        );
        assert_eq!(report.uom(), Some("CEL"));
        assert_eq!(
            report.microorganism(),
            Some("https://www.ncbi.nlm.nih.gov/taxonomy/1126011")
        );
        assert_eq!(report.exception(), None);
        assert_eq!(report.time().unwrap().to_string(), "2019-07-19T13:00:00Z");
    }

    #[test]
    fn extension_members_come_back_in_document_order() {
        let event = first_event(FULL_OBJECT_EVENT);
        let names: Vec<&str> = event.extensions().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            [
                "ext1:float",
                "ext1:time",
                "ext1:array",
                "ext1:boolean",
                "ext1:object",
                "ext1:default",
                "ext1:int",
                "ext1:string"
            ]
        );
    }

    #[test]
    fn transformation_events_list_inputs_and_outputs_with_their_roles() {
        let event = first_event(FULL_TRANSFORMATION_EVENT);
        assert_eq!(event.kind(), EventKind::Transformation);
        assert_eq!(event.action(), None);
        assert_eq!(
            event.transformation_id(),
            Some("urn:epc:id:gdti:0614141.12345.400")
        );
        let roles: Vec<EpcRole> = event.epcs().map(|(role, _)| role).collect();
        assert_eq!(
            roles,
            [
                EpcRole::Input,
                EpcRole::Input,
                EpcRole::Output,
                EpcRole::Output,
                EpcRole::Output,
                EpcRole::Output
            ]
        );
        assert_eq!(event.input_quantity_list().count(), 3);
        assert_eq!(
            event.output_quantity_list().nth(2).unwrap().quantity(),
            Some(220.0)
        );
        assert_eq!(event.quantities().count(), 6);
    }

    #[test]
    fn aggregation_events_list_the_parent_first_then_the_children() {
        let event = first_event(FULL_AGGREGATION_EVENT);
        let epcs: Vec<_> = event.epcs().collect();
        assert_eq!(
            epcs,
            [
                (EpcRole::Parent, "urn:epc:id:sscc:0614141.1234567890"),
                (EpcRole::Child, "urn:epc:id:sgtin:0614141.107346.2017"),
                (EpcRole::Child, "urn:epc:id:sgtin:0614141.107346.2018"),
            ]
        );
        let child = event.child_quantity_list().nth(1).unwrap();
        assert_eq!(child.quantity(), Some(200.5));
    }

    #[test]
    fn accessors_skip_members_of_the_wrong_type_instead_of_failing() {
        let event = Event::parse(
            br#"{"type":"ObjectEvent","eventTime":5,"action":"add","epcList":["urn:a:b",7],
                "readPoint":"urn:epc:id:sgln:0614141.07346.1234","quantityList":[1,{"epcClass":"urn:a:c"}]}"#,
        )
        .unwrap();
        assert_eq!(event.event_time(), None);
        assert_eq!(event.action(), None);
        assert_eq!(event.read_point(), None);
        assert_eq!(event.epc_list().collect::<Vec<_>>(), ["urn:a:b"]);
        assert_eq!(event.quantity_list().count(), 1);
    }

    #[test]
    fn certification_info_may_be_a_list() {
        let event =
            Event::parse(br#"{"type":"ObjectEvent","certificationInfo":["urn:a:1","urn:a:2"]}"#)
                .unwrap();
        assert_eq!(
            event.certification_info().collect::<Vec<_>>(),
            ["urn:a:1", "urn:a:2"]
        );
    }

    #[test]
    fn an_event_type_named_by_a_uri_is_an_extension_event() {
        let event = Event::parse(br#"{"type":"https://example.org/MyEvent"}"#).unwrap();
        assert_eq!(event.kind(), EventKind::Extension);
        assert_eq!(event.kind().standard_name(), None);
        assert_eq!(event.extensions().count(), 0);
    }

    #[test]
    fn an_unknown_event_type_is_a_structural_error_at_the_type_member() {
        let error = Event::parse(br#"{"type":"FooEvent"}"#).unwrap_err();
        let violation = error.violation().unwrap();
        assert_eq!(violation.pointer(), "/type");
        assert_eq!(violation.rule(), Rule::Enum);
        let error = Event::parse(br#"{"eventTime":"2005-04-03T20:33:31Z"}"#).unwrap_err();
        assert_eq!(error.violation().unwrap().rule(), Rule::Required);
        let error = Event::parse(b"[1]").unwrap_err();
        assert_eq!(error.violation().unwrap().rule(), Rule::Type);
    }

    #[test]
    fn an_event_serialises_to_its_original_json() {
        let text = r#"{"type":"ObjectEvent","z:last":1,"action":"ADD","a:first":{"b":2,"a":1}}"#;
        let event = Event::parse(text.as_bytes()).unwrap();
        assert_eq!(event.to_json(), text);
        assert_eq!(serde_json::to_string(&event).unwrap(), text);
    }

    #[test]
    fn actions_parse_only_in_upper_case() {
        assert_eq!(Action::parse("ADD"), Ok(Action::Add));
        assert_eq!(Action::parse("OBSERVE"), Ok(Action::Observe));
        assert_eq!(Action::parse("DELETE").map(Action::as_str), Ok("DELETE"));
        assert_eq!(Action::parse("add"), Err(UnknownAction));
    }
}
