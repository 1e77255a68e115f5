//! The CBV 2.0 event hash.

mod id;

pub use id::{EventHash, EventHashParseError};
