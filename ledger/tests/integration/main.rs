//! The integration tests of `ledger`, linked as one binary (one link instead of one per file:
//! a shorter cold build). Each module is one file of tests; shared helpers are modules too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod bundle;
mod codecs;
mod export;
mod index;
mod monitor;
mod proofs;
mod provenance;
mod rfc6962_vectors;
mod tiles;
