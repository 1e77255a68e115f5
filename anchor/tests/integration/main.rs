//! The integration tests of `anchor`, linked as one binary: each test starts its own local chain
//! (anvil, from the npm package scripts/services installs) on a free port and its own database,
//! and runs the worker as a member of `tagtrail_anchor` only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a failed unwrap is a failed test

mod common;
mod contract;
mod faulty;
mod process;
mod worker;
