#![doc = include_str!("../README.md")]

pub mod adapter;
pub mod codec;
pub mod config;
pub mod event;
pub mod metrics;
pub mod mqtt;
pub mod read;
pub mod serial;
pub mod simulator;
pub mod smoothing;
pub mod spool;
pub mod startup;
pub mod uploader;
