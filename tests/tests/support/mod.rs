//! What the end-to-end tests share: the workspace's binaries run as child processes, waiting for
//! conditions, a Prometheus server of a test's own and the bits of PromQL the checks need.

// Each test binary that declares `mod support;` uses only part of it.
#![allow(dead_code)]

pub mod prometheus;
pub mod promql;
pub mod services;
