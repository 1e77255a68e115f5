//! What every service's `GET /metrics` shares: the OpenMetrics text of a registry, its content
//! type, and the database pool gauges (`<prefix>_db_pool_connections{state}`,
//! `<prefix>_db_pool_max_connections`, `<prefix>_db_pool_waiting_requests`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The content type of the text exposition (OpenMetrics 1.0).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The text exposition of every metric of `registry`.
pub fn text(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    encode(&mut out, registry)?;
    Ok(out)
}

/// What a connection pool reports of itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections it may open.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections no one holds.
    pub available: usize,
    /// Tasks waiting for a connection.
    pub waiting: usize,
}

impl From<deadpool::managed::Status> for PoolStatus {
    fn from(status: deadpool::managed::Status) -> Self {
        Self {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// The pool gauges of one service, registered under its prefix.
#[derive(Debug, Clone)]
pub struct PoolGauges {
    connections: Family<StateLabels, Gauge>,
    max: Gauge,
    waiting: Gauge,
}

impl PoolGauges {
    /// Registers the gauges (at zero) in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let gauges = Self {
            connections: Family::default(),
            max: Gauge::default(),
            waiting: Gauge::default(),
        };
        registry.register(
            "db_pool_connections",
            "Database connections of this process, by state (in_use, idle)",
            gauges.connections.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The connection pool's size limit",
            gauges.max.clone(),
        );
        registry.register(
            "db_pool_waiting_requests",
            "Tasks waiting for a database connection",
            gauges.waiting.clone(),
        );
        gauges
    }

    /// Sets the gauges from the pool's status.
    pub fn set(&self, status: impl Into<PoolStatus>) {
        let status = status.into();
        let in_use = status.size.saturating_sub(status.available);
        for (state, count) in [("in_use", in_use), ("idle", status.available)] {
            self.connections
                .get_or_create(&StateLabels { state })
                .set(gauge(count));
        }
        self.max.set(gauge(status.max_size));
        self.waiting.set(gauge(status.waiting));
    }
}

fn gauge(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_pool_gauges_say_what_the_pool_holds_under_the_service_prefix() {
        let mut registry = Registry::with_prefix("svc");
        let gauges = PoolGauges::register(&mut registry);
        gauges.set(PoolStatus {
            max_size: 16,
            size: 5,
            available: 2,
            waiting: 7,
        });
        let text = text(&registry).unwrap();
        for line in [
            "svc_db_pool_connections{state=\"in_use\"} 3",
            "svc_db_pool_connections{state=\"idle\"} 2",
            "svc_db_pool_max_connections 16",
            "svc_db_pool_waiting_requests 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
