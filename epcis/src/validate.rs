//! Validation of EPCIS 2.0 documents and events against the official JSON schema
//! (`EPCIS-JSON-Schema.json`) and the rules of the standard that the schema does not express.
//!
//! Every violation names the event (if any), the member as an RFC 6901 JSON pointer into the
//! input, a stable machine-readable [`Rule`] code, and a message for people. All violations are
//! collected, not just the first.
//!
//! Where this module is stricter than the schema, [`Rule`] says so: negative quantities
//! ([`Rule::Minimum`]), a `schemaVersion` other than 2.x ([`Rule::Version`]), and malformed EPC
//! URIs and Digital Link URIs ([`Rule::Identifier`]).

use std::fmt;

use crate::document::{Document, Event};

mod document;
mod event;
pub(crate) mod format;
mod identifier;
mod report;
mod values;
mod vocabulary;

/// The rule a violation breaks. Codes (see [`Rule::code`]) are stable: clients may match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A required member is missing, or none of a set of alternatives is present (`required`).
    Required,
    /// A member has the wrong JSON type (`type`).
    Type,
    /// A value is not one of the allowed words, nor an allowed URI in their place (`enum`).
    Enum,
    /// A string does not match the schema's pattern, e.g. `eventTimeZoneOffset`, `uom`, or a
    /// CBV URI where JSON requires the bare word (`pattern`).
    Pattern,
    /// A string is not a valid `date-time` or `uri` (`format`).
    Format,
    /// A list that must not be empty is empty (`minItems`).
    MinItems,
    /// A list that must not repeat itself does (`uniqueItems`).
    UniqueItems,
    /// A member name is neither a standard member nor an extension named by a URI (such as
    /// `example:myField`), or an object that allows no extensions has one
    /// (`additionalProperties`).
    UnknownMember,
    /// A member is present where the schema forbids it, e.g. `ilmd` on an ObjectEvent whose
    /// action is not ADD (`forbidden`).
    Forbidden,
    /// A quantity is negative (`minimum`; stricter than the schema).
    Minimum,
    /// `schemaVersion` is well formed but not an EPCIS 2.x version (`version`; stricter than
    /// the schema).
    Version,
    /// A URI that claims to be an EPC URI or a GS1 Digital Link URI is malformed: bad scheme,
    /// component count, character, length or check digit (`identifier`; stricter than the
    /// schema, which only asks for a URI).
    Identifier,
    /// A standard CBV term written other than as its bare word in a way the schema admits: its
    /// Web URI, or a compact IRI that expands into a CBV namespace (`spelling`; stricter than
    /// the schema, so that every reader of the log reads a term one way).
    Spelling,
}

impl Rule {
    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Type => "type",
            Self::Enum => "enum",
            Self::Pattern => "pattern",
            Self::Format => "format",
            Self::MinItems => "minItems",
            Self::UniqueItems => "uniqueItems",
            Self::UnknownMember => "additionalProperties",
            Self::Forbidden => "forbidden",
            Self::Minimum => "minimum",
            Self::Version => "version",
            Self::Identifier => "identifier",
            Self::Spelling => "spelling",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One broken rule, located in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    event: Option<usize>,
    pointer: String,
    rule: Rule,
    message: String,
}

impl Violation {
    pub(crate) fn new(
        event: Option<usize>,
        pointer: String,
        rule: Rule,
        message: impl Into<String>,
    ) -> Self {
        Self {
            event,
            pointer,
            rule,
            message: message.into(),
        }
    }

    /// The index of the event in its document's event list, if the violation is inside an
    /// event of a document.
    pub fn event_index(&self) -> Option<usize> {
        self.event
    }

    /// Where: an RFC 6901 JSON pointer into the input, e.g. `/epcisBody/eventList/3/bizStep`.
    /// For a missing member it points where the member should be.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// Which rule is broken.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// What is wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {} [{}]", self.message, self.rule)
    }
}

/// Validates a whole document: its header and body and every event.
pub fn validate(document: &Document) -> Result<(), Vec<Violation>> {
    let mut report = report::Report::default();
    // A document whose `@context` the hash cannot read is refused by the checks of its members.
    if let Ok(prefixes) = crate::hash::HashContext::from_document_root(document.root()) {
        report.set_prefixes(prefixes);
    }
    document::check_document(document, &mut report);
    for event in document.events() {
        event::check_event(event, &mut report);
    }
    report.into_result()
}

/// Validates one event. A standalone event (from [`Event::parse`]) must also carry its own
/// `@context`, as the schema requires of events outside a document; an event of a document is
/// reported with pointers into that document.
pub fn validate_event(event: &Event) -> Result<(), Vec<Violation>> {
    let mut report = report::Report::default();
    event::check_event(event, &mut report);
    report.into_result()
}
