#![doc = include_str!("../README.md")]

pub mod access_log;
mod audit;
pub mod budget;
pub mod config;
pub mod grants;
pub mod lane;
pub mod metrics;
pub mod negotiate;
pub mod problem;
pub mod proofs;
pub mod reader;
pub mod routes;
pub mod scans;
pub mod startup;

pub use config::Config;
pub use startup::Application;
