//! The integration tests of `ingest`, linked as one binary (one link instead of one per file:
//! a shorter cold build). Each module is one file of tests; shared helpers are modules too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod capture;
mod common;
mod conformance;
mod devices;
mod key_rotation;
mod operations;
mod postgres_restart;
mod restore;
mod sealed;
