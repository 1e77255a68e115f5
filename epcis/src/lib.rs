#![doc = include_str!("../README.md")]

pub mod digital_link;
pub mod document;
pub mod epc;
pub mod hash;
pub mod hex;
mod json;
pub mod query;
pub mod rest;
pub mod tds;
pub mod validate;
pub mod vocab;

pub use hash::EventHash;

/// The JSON-LD context of EPCIS 2.0 documents and events, as the standard publishes it (EPCIS 2.0
/// §8.1.2): the one spelling every tagtrail crate writes and recognises.
pub const EPCIS_CONTEXT_URL: &str =
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
