#![doc = include_str!("../README.md")]

pub mod auth;
pub mod capture;
pub mod config;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod routes;
pub mod sealed;
pub mod startup;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;
