//! The integration tests of `firmware-bridge`, linked as one binary (one link instead of one per file:
//! a shorter cold build). Each module is one file of tests; shared helpers are modules too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod adapters;
mod cli;
mod codecs;
mod common;
mod mqtt;
mod replay;
mod serial;
mod spool;
mod upload;
mod upload_tls;
