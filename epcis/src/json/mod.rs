//! A lean, ordered JSON tree for the hot path, and one read-only view over it and over
//! `serde_json::Value`.
//!
//! [`Node`] is what [`crate::document::Document::parse`] reads events into: objects are plain
//! member lists in document order (no hash index, standard member names not even allocated), so
//! parsing costs a fraction of building `serde_json::Map`s. The `Map` of an event is built from
//! it only when someone asks for it.
//!
//! Validation and hashing read JSON through the [`Json`] and [`JsonObject`] traits, implemented
//! for both `serde_json::Value` and [`Node`], so each rule is written once and serves both the
//! public `Map`-based API and the lean path.

mod node;
mod read;
mod view;

pub(crate) use node::{Node, Object, parse};
pub(crate) use view::{Json, JsonObject, View};
