//! The integration tests of `ledger-store`, linked as one binary (one link instead of one per file:
//! a shorter cold build). Each module is one file of tests; shared helpers are modules too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod checkpoint_keys;
mod lookup_keys;
mod store_append;
mod store_audit;
mod store_index;
mod store_lookup;
mod store_migrate;
