//! The integration tests of `trace-api`, linked as one binary: an ingest service and a trace-api
//! on one database of their own (trace-api as a member of `tagtrail_reader` only; in `replica`, a
//! second trace-api on a streaming replica of it), events captured through ingest by a registered
//! device, and the answers checked from outside.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod access_log;
mod anchored;
mod browser;
mod common;
mod conformance;
mod custody;
mod exports;
mod grants;
mod history;
mod log;
mod named_queries;
mod nfc;
mod proofs;
mod query;
mod recall;
mod recipients;
mod replica;
mod resolver;
mod service;
mod streams;
mod subscriptions;
