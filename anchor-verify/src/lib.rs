#![doc = include_str!("../README.md")]

pub mod format;
pub mod proof;
pub mod rpc;
pub mod verify;

/// The outcome of one check: the same type as a bundle's checks, so that a verifier reports
/// both alike.
pub use ledger::bundle::Outcome;
