//! EPCIS 2.0 documents and events.
//!
//! [`Document::parse`] reads an `EPCISDocument` or `EPCISQueryDocument` once and keeps every
//! event's JSON object as received (member order, extension members and values untouched), with
//! typed accessors over it. Events are held in the crate's lean JSON form (the values and
//! errors are serde_json's); [`Event::raw`] builds the `serde_json::Map` on first use. Checking
//! the content against the EPCIS 2.0 schema and the CBV is [`crate::validate`]'s job.

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
pub(crate) use time::civil_from_days;
pub use time::{TimeError, TimeZoneOffset, Timestamp};
pub use view::{Objects, Strings};
