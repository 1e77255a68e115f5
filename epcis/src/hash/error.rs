//! [`HashError`]: why an event or document could not be hashed.

use thiserror::Error;

/// Why the CBV 2.0 pre-hash of an event (or the hashes of a document) could not be computed.
///
/// Values that the algorithm does not recognise (an unparseable timestamp, an identifier that
/// is neither an EPC URI nor a Digital Link) are not errors: like the reference implementation,
/// the hash keeps them as written. Errors are reserved for structures the algorithm cannot walk.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashError {
    /// The event has no `type`, or its `type` is not a string.
    #[error("the event field `type` must be a string naming the event type")]
    MissingEventType,
    /// A standard field has a JSON shape the algorithm cannot walk.
    #[error("the event field `{field}` must be {expected}")]
    InvalidField {
        /// The field, as a dotted path from the event (`sensorElementList.sensorReport`).
        field: &'static str,
        /// What the field must be.
        expected: &'static str,
    },
    /// The document is not a JSON object.
    #[error("an EPCIS document must be a JSON object")]
    DocumentNotAnObject,
    /// The document has no event list where EPCIS documents and query documents keep it.
    #[error(
        "the document has no `epcisBody.eventList` (nor `epcisBody.queryResults.resultsBody.eventList`) array"
    )]
    MissingEventList,
    /// An `@context` (of the document or of an event) has an unusable entry.
    #[error("invalid `@context`: {reason}")]
    InvalidContext {
        /// What is wrong.
        reason: &'static str,
    },
    /// An `ignoreFields` declaration is not a list of field names.
    #[error("invalid `ignoreFields`: {reason}")]
    InvalidIgnoreFields {
        /// What is wrong.
        reason: &'static str,
    },
    /// An entry of the document's event list is not a JSON object.
    #[error("event {index} of the event list must be a JSON object")]
    EventNotAnObject {
        /// Position of the event in document order, from 0.
        index: usize,
    },
    /// An event of a document could not be hashed.
    #[error("event {index} of the event list: {source}")]
    Event {
        /// Position of the event in document order, from 0.
        index: usize,
        /// Why it could not be hashed.
        #[source]
        source: Box<HashError>,
    },
}
