#![doc = include_str!("../README.md")]

pub mod config;
pub mod format;
pub mod metrics;
pub mod proof;
pub mod rpc;
pub mod service;
pub mod store;
pub mod tx;
pub mod verify;
pub mod worker;
