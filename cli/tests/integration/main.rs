//! The integration tests of `cli`, linked as one binary (one link instead of one per file:
//! a shorter cold build). Each module is one file of tests; shared helpers are modules too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod access_log_command;
mod anchor_commands;
mod grant_commands;
mod gs1_commands;
mod ingest_commands;
mod key_rotation;
mod ledger_commands;
mod nfc_commands;
mod org_commands;
mod run;
mod sealed_commands;
mod site_places;
mod verify_command;
mod verify_rpc;
