#![doc = include_str!("../README.md")]

pub mod backoff;
pub mod clients;
pub mod config;
pub mod error_chain;
#[cfg(feature = "http")]
pub mod http;
pub mod listeners;
pub mod log;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod rate_limit;
pub mod reused;
pub mod shutdown;
#[cfg(feature = "testing")]
pub mod testing;

pub use error_chain::ErrorChain;
