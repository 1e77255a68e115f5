//! The CBV 2.0 pre-hash string of one EPCIS event.
//!
//! The pre-hash is `eventType=<type>` followed by the event's fields in the canonical property
//! order, each written `name=value` (a value-less parent writes just its name, then its
//! children), with no separators. Lists are written once by name, then their members sorted by
//! their whole pre-hash text. After the ordered fields come, sorted together as whole strings,
//! the business transaction, source and destination lists, `ilmd`, and the user extensions
//! (keys as `{namespace IRI}local`, nested extensions with their children sorted).
//!
//! The order follows the GS1 reference implementation that produced the published vectors:
//! `sensorElementList` is the last ordered field, and `bizTransactionList`, `destinationList`,
//! `ilmd`, `sourceList` and extensions follow in lexical order. `recordTime`, `eventID`,
//! `errorDeclaration`, `rdfs:comment`/`comment`, JSON-LD keywords (`@context`, …) and fields
//! named by a document's `ignoreFields` are left out.
//!
//! Choices where the vectors are silent, so that the hash stays well defined on any input:
//! `epcList` precedes `parentID` (the standard's table; one reference version had them the
//! other way round); JSON `true`/`false` are written as in XML; `null` counts as absent; a
//! bare word is expanded only if it is a standard term of the field's vocabulary.

use serde_json::{Map, Number, Value};

use crate::json::{Json, JsonObject, View};

use super::context::HashContext;
use super::error::HashError;
use super::identifier::write_normalised_identifier;
use super::number::{write_canonical_f64, write_canonical_number_text};
use super::time::write_normalised_timestamp;
use crate::vocab::Vocabulary;

/// Computes the canonical pre-hash string of an EPCIS event (a JSON-LD event object).
///
/// `context` holds the namespace prefixes of the enclosing document (see
/// [`HashContext::from_document`]); the event's own `@context`, if any, is applied on top.
pub fn prehash(event: &Map<String, Value>, context: &HashContext) -> Result<String, HashError> {
    let mut buffers = PrehashBuffers::default();
    buffers.prehash(event, context)?;
    Ok(buffers.out)
}

/// The buffers of [`prehash`], kept from one event to the next when a whole document is hashed
/// so that pre-hashing an event allocates nothing once they have grown.
#[derive(Default)]
pub(crate) struct PrehashBuffers {
    out: String,
    pool: Vec<Group>,
}

impl PrehashBuffers {
    /// The pre-hash string of `event`, as [`prehash`] returns it, borrowed until the next call.
    pub(crate) fn prehash<O: JsonObject>(
        &mut self,
        event: &O,
        context: &HashContext,
    ) -> Result<&str, HashError> {
        let layered;
        let context = match event.get("@context") {
            Some(declared) => {
                layered = context.with_context(&declared.to_value())?;
                &layered
            }
            None => context,
        };
        let Some(event_type) = event.get("type").and_then(Json::as_str) else {
            return Err(HashError::MissingEventType);
        };

        let mut ordered: [Option<&O::Value>; EVENT_FIELDS.len()] = [None; EVENT_FIELDS.len()];
        let mut has_remainder = false;
        for (key, value) in event.members() {
            match classify(key) {
                Slot::Ordered(index) => ordered[index] = Some(value),
                Slot::Skip => {}
                Slot::Remainder => has_remainder = true,
            }
        }

        let mut env = Env {
            context,
            pool: std::mem::take(&mut self.pool),
        };
        let out = &mut self.out;
        out.clear();
        out.reserve(256 + 96 * event.len());
        out.push_str("eventType=");
        out.push_str(event_type);
        for (field, value) in EVENT_FIELDS.iter().zip(ordered) {
            if let Some(value) = value
                && !context.is_ignored(field.name)
            {
                write_field(out, &mut env, field, value)?;
            }
        }
        if has_remainder {
            let mut group = env.group();
            let remainder = event
                .members()
                .filter(|(key, _)| matches!(classify(key), Slot::Remainder));
            for (key, value) in remainder {
                if context.is_ignored(key) {
                    continue;
                }
                match REMAINDER_LISTS.iter().find(|field| field.name == key) {
                    Some(field) => {
                        group.begin();
                        write_field(&mut group.buf, &mut env, field, value)?;
                        group.end();
                    }
                    None => push_generic_entries(&mut group, &mut env, key, value),
                }
            }
            env.finish(group, out);
        }
        self.pool = env.pool;
        Ok(&self.out)
    }
}

/// How a standard field is written.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `name=value`; an array writes one sorted `name=value` per member.
    Scalar(Rule),
    /// `name` then sorted `epc=value` members (EPC and class lists).
    Identifiers,
    /// `name` then the sorted members, each `element` followed by its fields.
    List {
        element: &'static str,
        fields: &'static [Field],
    },
    /// `name` followed by the fields of the object (an array writes one sorted entry per
    /// member).
    Record { fields: &'static [Field] },
}

/// How a scalar value is normalised beyond the generic rules.
#[derive(Debug, Clone, Copy, Default)]
struct Rule {
    /// A bare word of this vocabulary is written as its Web URI.
    vocabulary: Option<Vocabulary>,
    /// The value is a timestamp, written in UTC with millisecond precision.
    timestamp: bool,
}

const PLAIN: Rule = Rule {
    vocabulary: None,
    timestamp: false,
};
const TIMESTAMP: Rule = Rule {
    vocabulary: None,
    timestamp: true,
};

const fn vocabulary(vocabulary: Vocabulary) -> Rule {
    Rule {
        vocabulary: Some(vocabulary),
        timestamp: false,
    }
}

/// A standard field: its JSON name, how it is written, and its path for error messages.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    kind: Kind,
    path: &'static str,
}

const fn field(name: &'static str, kind: Kind, path: &'static str) -> Field {
    Field { name, kind, path }
}

const QUANTITY_ELEMENT: &[Field] = &[
    field("epcClass", Kind::Scalar(PLAIN), "quantityList.epcClass"),
    field("quantity", Kind::Scalar(PLAIN), "quantityList.quantity"),
    field("uom", Kind::Scalar(PLAIN), "quantityList.uom"),
];

const PERSISTENT_DISPOSITION: &[Field] = &[
    field(
        "set",
        Kind::Scalar(vocabulary(Vocabulary::Disposition)),
        "persistentDisposition.set",
    ),
    field(
        "unset",
        Kind::Scalar(vocabulary(Vocabulary::Disposition)),
        "persistentDisposition.unset",
    ),
];

const READ_POINT: &[Field] = &[field("id", Kind::Scalar(PLAIN), "readPoint.id")];
const BIZ_LOCATION: &[Field] = &[field("id", Kind::Scalar(PLAIN), "bizLocation.id")];

const SENSOR_METADATA: &[Field] = &[
    field(
        "time",
        Kind::Scalar(TIMESTAMP),
        "sensorElementList.sensorMetadata.time",
    ),
    field(
        "startTime",
        Kind::Scalar(TIMESTAMP),
        "sensorElementList.sensorMetadata.startTime",
    ),
    field(
        "endTime",
        Kind::Scalar(TIMESTAMP),
        "sensorElementList.sensorMetadata.endTime",
    ),
    field(
        "deviceID",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorMetadata.deviceID",
    ),
    field(
        "deviceMetadata",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorMetadata.deviceMetadata",
    ),
    field(
        "rawData",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorMetadata.rawData",
    ),
    field(
        "dataProcessingMethod",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorMetadata.dataProcessingMethod",
    ),
    field(
        "bizRules",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorMetadata.bizRules",
    ),
];

const SENSOR_REPORT: &[Field] = &[
    field(
        "type",
        Kind::Scalar(vocabulary(Vocabulary::MeasurementType)),
        "sensorElementList.sensorReport.type",
    ),
    field(
        "exception",
        Kind::Scalar(vocabulary(Vocabulary::SensorAlertType)),
        "sensorElementList.sensorReport.exception",
    ),
    field(
        "deviceID",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.deviceID",
    ),
    field(
        "deviceMetadata",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.deviceMetadata",
    ),
    field(
        "rawData",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.rawData",
    ),
    field(
        "dataProcessingMethod",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.dataProcessingMethod",
    ),
    field(
        "time",
        Kind::Scalar(TIMESTAMP),
        "sensorElementList.sensorReport.time",
    ),
    field(
        "microorganism",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.microorganism",
    ),
    field(
        "chemicalSubstance",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.chemicalSubstance",
    ),
    field(
        "value",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.value",
    ),
    field(
        "component",
        Kind::Scalar(vocabulary(Vocabulary::Component)),
        "sensorElementList.sensorReport.component",
    ),
    field(
        "stringValue",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.stringValue",
    ),
    field(
        "booleanValue",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.booleanValue",
    ),
    field(
        "hexBinaryValue",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.hexBinaryValue",
    ),
    field(
        "uriValue",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.uriValue",
    ),
    field(
        "minValue",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.minValue",
    ),
    field(
        "maxValue",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.maxValue",
    ),
    field(
        "meanValue",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.meanValue",
    ),
    field(
        "sDev",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.sDev",
    ),
    field(
        "percRank",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.percRank",
    ),
    field(
        "percValue",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.percValue",
    ),
    field(
        "uom",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.uom",
    ),
    field(
        "coordinateReferenceSystem",
        Kind::Scalar(PLAIN),
        "sensorElementList.sensorReport.coordinateReferenceSystem",
    ),
];

const SENSOR_ELEMENT: &[Field] = &[
    field(
        "sensorMetadata",
        Kind::Record {
            fields: SENSOR_METADATA,
        },
        "sensorElementList.sensorMetadata",
    ),
    field(
        "sensorReport",
        Kind::Record {
            fields: SENSOR_REPORT,
        },
        "sensorElementList.sensorReport",
    ),
];

const fn quantity_list(name: &'static str) -> Field {
    field(
        name,
        Kind::List {
            element: "quantityElement",
            fields: QUANTITY_ELEMENT,
        },
        name,
    )
}

/// The canonical property order of the event's own fields.
const EVENT_FIELDS: [Field; 20] = [
    field("eventTime", Kind::Scalar(TIMESTAMP), "eventTime"),
    field(
        "eventTimeZoneOffset",
        Kind::Scalar(PLAIN),
        "eventTimeZoneOffset",
    ),
    field(
        "certificationInfo",
        Kind::Scalar(PLAIN),
        "certificationInfo",
    ),
    field("epcList", Kind::Identifiers, "epcList"),
    field("parentID", Kind::Scalar(PLAIN), "parentID"),
    field("inputEPCList", Kind::Identifiers, "inputEPCList"),
    field("childEPCs", Kind::Identifiers, "childEPCs"),
    quantity_list("quantityList"),
    quantity_list("childQuantityList"),
    quantity_list("inputQuantityList"),
    field("outputEPCList", Kind::Identifiers, "outputEPCList"),
    quantity_list("outputQuantityList"),
    field("action", Kind::Scalar(PLAIN), "action"),
    field("transformationID", Kind::Scalar(PLAIN), "transformationID"),
    field(
        "bizStep",
        Kind::Scalar(vocabulary(Vocabulary::BizStep)),
        "bizStep",
    ),
    field(
        "disposition",
        Kind::Scalar(vocabulary(Vocabulary::Disposition)),
        "disposition",
    ),
    field(
        "persistentDisposition",
        Kind::Record {
            fields: PERSISTENT_DISPOSITION,
        },
        "persistentDisposition",
    ),
    field(
        "readPoint",
        Kind::Record { fields: READ_POINT },
        "readPoint",
    ),
    field(
        "bizLocation",
        Kind::Record {
            fields: BIZ_LOCATION,
        },
        "bizLocation",
    ),
    field(
        "sensorElementList",
        Kind::List {
            element: "sensorElement",
            fields: SENSOR_ELEMENT,
        },
        "sensorElementList",
    ),
];

/// Standard lists that are sorted together with `ilmd` and the user extensions.
const REMAINDER_LISTS: [Field; 3] = [
    field(
        "bizTransactionList",
        Kind::List {
            element: "",
            fields: &[
                field(
                    "type",
                    Kind::Scalar(vocabulary(Vocabulary::BizTransactionType)),
                    "bizTransactionList.type",
                ),
                field(
                    "bizTransaction",
                    Kind::Scalar(PLAIN),
                    "bizTransactionList.bizTransaction",
                ),
            ],
        },
        "bizTransactionList",
    ),
    field(
        "sourceList",
        Kind::List {
            element: "",
            fields: &[
                field(
                    "type",
                    Kind::Scalar(vocabulary(Vocabulary::SourceDestinationType)),
                    "sourceList.type",
                ),
                field("source", Kind::Scalar(PLAIN), "sourceList.source"),
            ],
        },
        "sourceList",
    ),
    field(
        "destinationList",
        Kind::List {
            element: "",
            fields: &[
                field(
                    "type",
                    Kind::Scalar(vocabulary(Vocabulary::SourceDestinationType)),
                    "destinationList.type",
                ),
                field(
                    "destination",
                    Kind::Scalar(PLAIN),
                    "destinationList.destination",
                ),
            ],
        },
        "destinationList",
    ),
];

enum Slot {
    Ordered(usize),
    Skip,
    Remainder,
}

fn classify(key: &str) -> Slot {
    let index = match key {
        "eventTime" => 0,
        "eventTimeZoneOffset" => 1,
        "certificationInfo" => 2,
        "epcList" => 3,
        "parentID" => 4,
        "inputEPCList" => 5,
        "childEPCs" => 6,
        "quantityList" => 7,
        "childQuantityList" => 8,
        "inputQuantityList" => 9,
        "outputEPCList" => 10,
        "outputQuantityList" => 11,
        "action" => 12,
        "transformationID" => 13,
        "bizStep" => 14,
        "disposition" => 15,
        "persistentDisposition" => 16,
        "readPoint" => 17,
        "bizLocation" => 18,
        "sensorElementList" => 19,
        "type" | "eventID" | "recordTime" | "errorDeclaration" => return Slot::Skip,
        _ if is_comment_or_keyword(key) => return Slot::Skip,
        _ => return Slot::Remainder,
    };
    Slot::Ordered(index)
}

/// Keys left out at every level: comments and JSON-LD keywords.
fn is_comment_or_keyword(key: &str) -> bool {
    key.starts_with('@') || key == "comment" || key == "rdfs:comment"
}

/// Reusable buffers for sorting sibling entries by their pre-hash text.
struct Env<'c> {
    context: &'c HashContext,
    pool: Vec<Group>,
}

/// Sibling entries written one after another into `buf`, as `(start, end)` spans.
#[derive(Default)]
struct Group {
    buf: String,
    spans: Vec<(usize, usize)>,
    start: usize,
}

impl Group {
    fn begin(&mut self) {
        self.start = self.buf.len();
    }

    fn end(&mut self) {
        if self.buf.len() > self.start {
            self.spans.push((self.start, self.buf.len()));
        }
    }
}

impl Env<'_> {
    fn group(&mut self) -> Group {
        self.pool.pop().unwrap_or_default()
    }

    /// Appends the group's entries to `out` in lexical (byte) order and recycles the buffers.
    fn finish(&mut self, mut group: Group, out: &mut String) {
        let Group { buf, spans, .. } = &mut group;
        spans.sort_unstable_by(|a, b| buf[a.0..a.1].cmp(&buf[b.0..b.1]));
        for &(start, end) in spans.iter() {
            out.push_str(&buf[start..end]);
        }
        group.buf.clear();
        group.spans.clear();
        self.pool.push(group);
    }
}

/// Writes a standard field (nothing if it holds no value).
fn write_field<J: Json>(
    out: &mut String,
    env: &mut Env<'_>,
    field: &Field,
    value: &J,
) -> Result<(), HashError> {
    match field.kind {
        Kind::Scalar(rule) => match value.view() {
            View::Array(members) => {
                let mut group = env.group();
                for member in members {
                    group.begin();
                    write_scalar_entry(&mut group.buf, env.context, field, rule, member)?;
                    group.end();
                }
                env.finish(group, out);
                Ok(())
            }
            _ => write_scalar_entry(out, env.context, field, rule, value),
        },
        Kind::Identifiers => {
            let members = as_members(value);
            let mark = out.len();
            out.push_str(field.name);
            let body = out.len();
            let mut group = env.group();
            for member in members {
                if matches!(member.view(), View::Array(_) | View::Object(_)) {
                    return Err(HashError::InvalidField {
                        field: field.path,
                        expected: "a list of identifier strings",
                    });
                }
                group.begin();
                let entry_mark = group.buf.len();
                group.buf.push_str("epc=");
                if !write_scalar_value(&mut group.buf, env.context, PLAIN, member) {
                    group.buf.truncate(entry_mark);
                }
                group.end();
            }
            env.finish(group, out);
            if out.len() == body {
                out.truncate(mark);
            }
            Ok(())
        }
        Kind::List { element, fields } => {
            let mark = out.len();
            out.push_str(field.name);
            let body = out.len();
            let mut group = env.group();
            for member in as_members(value) {
                let View::Object(object) = member.view() else {
                    if member.is_null() {
                        continue;
                    }
                    return Err(HashError::InvalidField {
                        field: field.path,
                        expected: "a list of objects",
                    });
                };
                group.begin();
                write_record(&mut group.buf, env, element, fields, object)?;
                group.end();
            }
            env.finish(group, out);
            if out.len() == body {
                out.truncate(mark);
            }
            Ok(())
        }
        Kind::Record { fields } => {
            if let View::Object(object) = value.view() {
                // A single record needs no sorting.
                return write_record(out, env, field.name, fields, object);
            }
            let mut group = env.group();
            for member in as_members(value) {
                match member.view() {
                    View::Object(object) => {
                        group.begin();
                        write_record(&mut group.buf, env, field.name, fields, object)?;
                        group.end();
                    }
                    View::Null => {}
                    // `readPoint: "urn:…"`: the identifier alone stands for `{ "id": … }`.
                    View::String(_) if let Some(id) = fields.first().filter(|f| f.name == "id") => {
                        group.begin();
                        write_id_shorthand(&mut group.buf, env, field.name, id, member)?;
                        group.end();
                    }
                    _ => {
                        return Err(HashError::InvalidField {
                            field: field.path,
                            expected: "an object",
                        });
                    }
                }
            }
            env.finish(group, out);
            Ok(())
        }
    }
}

/// Writes `name` then the known fields of `object` in order, then its extensions sorted;
/// writes nothing if neither yields any text.
fn write_record<O: JsonObject>(
    out: &mut String,
    env: &mut Env<'_>,
    name: &str,
    fields: &'static [Field],
    object: &O,
) -> Result<(), HashError> {
    let mark = out.len();
    out.push_str(name);
    let body = out.len();
    for field in fields {
        if let Some(value) = object.get(field.name) {
            write_field(out, env, field, value)?;
        }
    }
    let has_extensions = object
        .members()
        .any(|(key, _)| !fields.iter().any(|f| f.name == key) && !is_comment_or_keyword(key));
    if has_extensions {
        let mut group = env.group();
        for (key, value) in object.members() {
            if fields.iter().any(|f| f.name == key) {
                continue;
            }
            push_generic_entries(&mut group, env, key, value);
        }
        env.finish(group, out);
    }
    if out.len() == body {
        out.truncate(mark);
    }
    Ok(())
}

/// Writes a record given as its identifier alone (`"readPoint": "urn:…"`) as the record
/// `{"id": value}` would be written: `name`, then the `id` field, or nothing if that is empty.
fn write_id_shorthand<J: Json>(
    out: &mut String,
    env: &mut Env<'_>,
    name: &str,
    id: &Field,
    value: &J,
) -> Result<(), HashError> {
    let mark = out.len();
    out.push_str(name);
    let body = out.len();
    write_field(out, env, id, value)?;
    if out.len() == body {
        out.truncate(mark);
    }
    Ok(())
}

/// Writes `name=value` for one scalar member of a standard field (nothing for an empty value or
/// `null`).
fn write_scalar_entry<J: Json>(
    out: &mut String,
    context: &HashContext,
    field: &Field,
    rule: Rule,
    value: &J,
) -> Result<(), HashError> {
    if matches!(value.view(), View::Array(_) | View::Object(_)) {
        return Err(HashError::InvalidField {
            field: field.path,
            expected: "a string, number or boolean (or a list of them)",
        });
    }
    let mark = out.len();
    out.push_str(field.name);
    out.push('=');
    if !write_scalar_value(out, context, rule, value) {
        out.truncate(mark);
    }
    Ok(())
}

/// A list's members: an array's elements, or a lone value as a list of one.
fn as_members<J: Json>(value: &J) -> &[J] {
    match value.view() {
        View::Array(members) => members,
        _ => std::slice::from_ref(value),
    }
}

/// Pushes the entries of a user extension (or any field outside the canonical order) into
/// `group`: `key=value` for a scalar, `key` followed by its sorted children for an object, one
/// entry per member for an array. Keys are written `{namespace IRI}local` when their prefix is
/// declared; values get the generic normalisations (no timestamp or vocabulary rules).
fn push_generic_entries<J: Json>(group: &mut Group, env: &mut Env<'_>, key: &str, value: &J) {
    if is_comment_or_keyword(key) {
        return;
    }
    match value.view() {
        View::Null => {}
        View::Array(members) => {
            for member in members {
                push_generic_entries(group, env, key, member);
            }
        }
        View::Object(children) => {
            group.begin();
            env.context.write_key(&mut group.buf, key);
            let mut nested = env.group();
            for (child_key, child_value) in children.members() {
                push_generic_entries(&mut nested, env, child_key, child_value);
            }
            env.finish(nested, &mut group.buf);
            group.end();
        }
        _ => {
            group.begin();
            env.context.write_key(&mut group.buf, key);
            let mark = group.buf.len();
            group.buf.push('=');
            if !write_scalar_value(&mut group.buf, env.context, PLAIN, value) {
                group.buf.truncate(mark);
            }
            group.end();
        }
    }
}

/// Appends the normalised text of a scalar JSON value; returns `false` (appending nothing) when
/// the value is empty after trimming, or is `null`.
fn write_scalar_value<J: Json>(
    out: &mut String,
    context: &HashContext,
    rule: Rule,
    value: &J,
) -> bool {
    match value.view() {
        View::String(text) => write_text_value(out, context, rule, text),
        View::Number(number) => {
            write_number(out, number);
            true
        }
        View::Bool(flag) => {
            out.push_str(if flag { "true" } else { "false" });
            true
        }
        View::Null | View::Array(_) | View::Object(_) => false,
    }
}

fn write_number(out: &mut String, number: &Number) {
    // The reference reads every number as a binary64 float, as `u64 as f64` / `i64 as f64`
    // round (to nearest, ties to even).
    let value = if let Some(unsigned) = number.as_u64() {
        unsigned as f64
    } else if let Some(signed) = number.as_i64() {
        signed as f64
    } else {
        number.as_f64().unwrap_or(0.0)
    };
    write_canonical_f64(out, value);
}

/// Trims like Python's `str.strip()`: Unicode white space plus the ASCII separators 0x1C–0x1F.
fn python_strip(text: &str) -> &str {
    // Printable ASCII at both ends (the usual case) is neither white space nor a separator, and
    // every other white space character is outside ASCII.
    let printable = |b: Option<&u8>| b.is_some_and(|&b| matches!(b, 0x21..=0x7E));
    if printable(text.as_bytes().first()) && printable(text.as_bytes().last()) {
        return text;
    }
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Appends the normalised form of a text value (see the module documentation of
/// [`super`] for the rules); returns `false` if it is empty after trimming.
fn write_text_value(out: &mut String, context: &HashContext, rule: Rule, text: &str) -> bool {
    let text = python_strip(text);
    if text.is_empty() {
        return false;
    }
    if rule.timestamp {
        if !write_normalised_timestamp(out, text) {
            out.push_str(text);
        }
        return true;
    }
    if let Some(vocabulary) = rule.vocabulary
        && vocabulary.is_standard_word(text)
    {
        out.push_str(vocabulary.web_uri_prefix());
        out.push_str(text);
        return true;
    }
    write_canonical_text(out, &context.expand_value(text));
    true
}

/// The reference's value canonicalisation: CBV URNs to Web URIs, numbers to canonical form,
/// GS1 identifiers to constrained canonical Digital Links; anything else as written.
fn write_canonical_text(out: &mut String, text: &str) {
    if let Some(rest) = text.strip_prefix("urn:epcglobal:cbv:") {
        for vocabulary in [
            Vocabulary::BizStep,
            Vocabulary::Disposition,
            Vocabulary::BizTransactionType,
            Vocabulary::SourceDestinationType,
            Vocabulary::ErrorReason,
        ] {
            let urn_prefix = vocabulary.urn_prefix().unwrap_or_default();
            let short = &urn_prefix["urn:epcglobal:cbv:".len()..];
            if let Some(word) = rest.strip_prefix(short) {
                out.push_str(vocabulary.web_uri_prefix());
                out.push_str(word);
                return;
            }
        }
    }
    if write_canonical_number_text(out, text) || write_normalised_identifier(out, text) {
        return;
    }
    out.push_str(text);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    fn prehash_of(event: Value) -> Result<String, HashError> {
        let Value::Object(event) = event else {
            panic!("test events are objects")
        };
        prehash(&event, &HashContext::default())
    }

    #[test]
    fn stripping_trims_what_python_trims() {
        let cases = [
            "x",
            " x ",
            "\u{1c}x\u{1f}",
            "x\u{a0}",
            "\u{85}x",
            "\u{3000}x y\t",
            "\n",
            "",
            "a b",
        ];
        for text in cases {
            let is_trimmed = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
            let expected = text.trim_matches(is_trimmed);
            assert_eq!(python_strip(text), expected, "{text:?}");
        }
    }

    #[test]
    fn bare_vocabulary_words_expand_to_cbv_web_uris() {
        // Values from vector epcisDocWithSingleEvent.
        let text = prehash_of(json!({
            "type": "ObjectEvent",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "bizTransactionList": [{"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"}]
        }))
        .unwrap();
        assert_eq!(
            text,
            "eventType=ObjectEventbizStep=https://ref.gs1.org/cbv/BizStep-shipping\
             disposition=https://ref.gs1.org/cbv/Disp-in_transit\
             bizTransactionListtype=https://ref.gs1.org/cbv/BTT-po\
             bizTransaction=http://transaction.acme.com/po/12345678"
        );
    }

    #[test]
    fn cbv_urns_rewrite_to_web_uris_and_curies_expand() {
        // CBV 2.0 rule 14's example, and rule 15's example `gs1:Temperature`.
        let text = prehash_of(json!({
            "type": "ObjectEvent",
            "bizStep": "urn:epcglobal:cbv:bizstep:receiving",
            "sensorElementList": [{"sensorReport": [{"type": "gs1:Temperature"}]}]
        }))
        .unwrap();
        assert_eq!(
            text,
            "eventType=ObjectEventbizStep=https://ref.gs1.org/cbv/BizStep-receiving\
             sensorElementListsensorElementsensorReporttype=https://gs1.org/voc/Temperature"
        );
    }

    #[test]
    fn a_non_standard_bare_word_is_kept_as_written() {
        let text = prehash_of(json!({"type": "ObjectEvent", "bizStep": "teleporting"})).unwrap();
        assert_eq!(text, "eventType=ObjectEventbizStep=teleporting");
    }

    #[test]
    fn empty_fields_and_lists_leave_no_trace() {
        let text = prehash_of(json!({
            "type": "ObjectEvent",
            "epcList": [],
            "bizStep": "  ",
            "disposition": null,
            "readPoint": {},
            "quantityList": [{}]
        }))
        .unwrap();
        assert_eq!(text, "eventType=ObjectEvent");
    }

    #[test]
    fn ignored_fields_do_not_contribute() {
        let text = prehash_of(json!({
            "type": "ObjectEvent",
            "eventID": "ni:///sha-256;00?ver=CBV2.0",
            "recordTime": "2020-01-01T00:00:00Z",
            "errorDeclaration": {"declarationTime": "2020-01-01T00:00:00Z"},
            "rdfs:comment": "a comment",
            "@context": {"ex": "https://ex.example/"},
            "action": "OBSERVE"
        }))
        .unwrap();
        assert_eq!(text, "eventType=ObjectEventaction=OBSERVE");
    }

    #[test]
    fn an_events_own_context_declares_extension_namespaces() {
        let text = prehash_of(json!({
            "type": "ObjectEvent",
            "@context": [{"ex": "https://ex.example/"}],
            "ex:b": "x",
            "ex:a": {"ex:z": 1, "ex:y": [2, 3.50]}
        }))
        .unwrap();
        assert_eq!(
            text,
            "eventType=ObjectEvent{https://ex.example/}a{https://ex.example/}y=2\
             {https://ex.example/}y=3.5{https://ex.example/}z=1{https://ex.example/}b=x"
        );
    }

    #[test]
    fn malformed_standard_fields_are_errors_that_name_the_field() {
        assert_eq!(
            prehash_of(json!({"type": "ObjectEvent", "bizStep": {"x": 1}})),
            Err(HashError::InvalidField {
                field: "bizStep",
                expected: "a string, number or boolean (or a list of them)"
            })
        );
        assert_eq!(
            prehash_of(json!({"type": "ObjectEvent", "quantityList": ["x"]})),
            Err(HashError::InvalidField {
                field: "quantityList",
                expected: "a list of objects"
            })
        );
        assert_eq!(
            prehash_of(json!({"type": "ObjectEvent", "epcList": [["x"]]})),
            Err(HashError::InvalidField {
                field: "epcList",
                expected: "a list of identifier strings"
            })
        );
        assert_eq!(
            prehash_of(json!({"action": "ADD"})),
            Err(HashError::MissingEventType)
        );
        assert_eq!(
            prehash_of(json!({"type": 1})),
            Err(HashError::MissingEventType)
        );
    }

    #[test]
    fn a_read_point_given_as_a_bare_identifier_reads_as_its_id() {
        let text = prehash_of(json!({
            "type": "ObjectEvent",
            "readPoint": "urn:epc:id:sgln:4012345.00005.0"
        }))
        .unwrap();
        assert_eq!(
            text,
            "eventType=ObjectEventreadPointid=https://id.gs1.org/414/4012345000054"
        );
    }
}
