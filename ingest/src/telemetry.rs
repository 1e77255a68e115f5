//! Logging: `tracing` to standard output, as text or one JSON object per line (the same for every
//! service: `service_kit::log`).

pub use service_kit::log::init;
