#![doc = include_str!("../README.md")]

pub mod config;
pub mod log;
pub mod shutdown;
#[cfg(feature = "testing")]
pub mod testing;
