#![doc = include_str!("../README.md")]

pub mod config;
pub mod format;
pub mod metrics;
pub mod proof;
pub mod rpc;
#[cfg(feature = "service")]
pub mod service;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tx;
pub mod verify;
pub mod worker;
