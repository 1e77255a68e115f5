#![doc = include_str!("../README.md")]

pub mod backoff;
pub mod clients;
pub mod config;
pub mod error_chain;
pub mod listeners;
pub mod log;
pub mod rate_limit;
pub mod reused;
pub mod shutdown;
#[cfg(feature = "testing")]
pub mod testing;

pub use error_chain::ErrorChain;
