//! EPCIS 2.0 documents and events.
//!
//! [`Document::parse`] reads an `EPCISDocument` or `EPCISQueryDocument` once with `serde_json`
//! and keeps every event's JSON object as received (member order, extension members and values
//! untouched), with typed accessors over it. Checking the content against the EPCIS 2.0 schema
//! and the CBV is [`crate::validate`]'s job.

mod event;
mod parse;
mod time;
mod view;

#[cfg(test)]
pub(crate) use event::specific_members;
pub use event::{
    Action, BizTransaction, EpcRole, ErrorDeclaration, Event, EventKind, PersistentDisposition,
    QuantityElement, SensorElement, SensorMetadata, SensorNumber, SensorReport, SensorUri,
    SourceOrDestination, UnknownAction,
};
pub use parse::{Document, DocumentKind, ParseError};
pub use time::{TimeError, TimeZoneOffset, Timestamp};
pub use view::{Objects, Strings};
