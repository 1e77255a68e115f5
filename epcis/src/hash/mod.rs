//! The CBV 2.0 event hash ID.
//!
//! [`prehash`] turns an EPCIS 2.0 JSON-LD event into the canonical pre-hash string of the CBV 2.0
//! "EPCIS event hash ID" algorithm; [`event_hash`] hashes it with SHA-256 into an [`EventHash`]
//! (`ni:///sha-256;…?ver=CBV2.0`); [`document_hashes`] does both for every event of a document.
//! The output matches the GS1 reference implementation's published vectors byte for byte.

mod context;
mod document;
mod error;
mod id;
pub(crate) mod identifier;
mod number;
mod prehash;
mod time;

pub use context::HashContext;
pub(crate) use context::standard_prefix_iri;
pub use document::{document_hashes, event_hash, hash_prehash, parsed_document_hashes};
pub use error::HashError;
pub use id::{EventHash, EventHashParseError};
pub use identifier::canonical_identifier;
pub use prehash::prehash;
