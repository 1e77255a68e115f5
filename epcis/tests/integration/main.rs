//! The integration tests of `epcis`, linked as one binary (one link instead of one per file:
//! a shorter cold build). Each module is one file of tests; shared helpers are modules too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod documents_common;
mod documents_examples;
mod documents_fuzz;
mod documents_mutations;
mod event_hash_vectors;
mod identifiers_compressed_links;
mod identifiers_event_hash_vectors;
mod identifiers_properties;
mod identifiers_tds_vectors;
