#![doc = include_str!("../README.md")]

pub mod config;
pub mod metrics;
#[cfg(feature = "service")]
pub mod service;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tx;
pub mod worker;

// What the worker checks with, from the library every verifier uses.
pub use anchor_verify::{format, proof, rpc, verify};
