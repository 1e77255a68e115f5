//! The worker's Prometheus metrics (`GET /metrics`, OpenMetrics text). Every metric has a `chain`
//! label, the configured chain's name.
//!
//! | metric | type | labels | what |
//! | --- | --- | --- | --- |
//! | `tagtrail_anchor_anchors` | gauge | `chain`, `state` | anchors by state (`pending`, `included`, `confirmed`, `reverted`, `abandoned`) |
//! | `tagtrail_anchor_lag_seconds` | gauge | `chain` | seconds since the oldest checkpoint no confirmed anchor covers was signed; 0 when the newest is anchored |
//! | `tagtrail_anchor_lag_entries` | gauge | `chain` | entries between the newest checkpoint and the newest confirmed anchor |
//! | `tagtrail_anchor_confirmed_total` | counter | `chain` | anchors confirmed |
//! | `tagtrail_anchor_gas_used_total` | counter | `chain` | gas used by confirmed anchors |
//! | `tagtrail_anchor_fee_paid_gwei_total` | counter | `chain` | fees paid for confirmed anchors, in gwei |
//! | `tagtrail_anchor_fee_bumps_total` | counter | `chain` | replacement transactions sent with higher fees |
//! | `tagtrail_anchor_fee_capped_total` | counter | `chain` | times the fee cap held an anchor (or a bump) back |
//! | `tagtrail_anchor_reorgs_total` | counter | `chain` | reorgs that removed or moved an anchor's transaction |
//! | `tagtrail_anchor_resent_total` | counter | `chain` | signed transactions sent again (dropped, reorged out, or after a restart) |
//! | `tagtrail_anchor_rpc_errors_total` | counter | `chain` | failed JSON-RPC calls (retried with backoff) |
//! | `tagtrail_anchor_node_disagreements_total` | counter | `chain` | answers of a node that another node, or the block's own hashes, contradicted |
//! | `tagtrail_anchor_reverted_total` | counter | `chain` | anchors proven reverted from their block (each followed by a new anchor) |
//! | `tagtrail_anchor_stalled` | gauge | `chain` | 1 while a checkpoint signed more than `stall_after` ago has no confirmed anchor (readiness fails meanwhile) |
//!
//! And, as every service has them (without the `chain` label), of the pool of the worker's own
//! tables: `tagtrail_anchor_db_pool_connections` (`state`: `in_use`, `idle`),
//! `tagtrail_anchor_db_pool_max_connections` and `tagtrail_anchor_db_pool_waiting_requests`, read
//! at each scrape.

use std::collections::BTreeSet;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use service_kit::metrics::PoolGauges;

use crate::store::State;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChainLabels {
    chain: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    chain: String,
    state: &'static str,
}

/// The worker's metrics, shared by every chain's task.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    anchors: Family<StateLabels, Gauge>,
    lag_seconds: Family<ChainLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    lag_entries: Family<ChainLabels, Gauge>,
    confirmed: Family<ChainLabels, Counter>,
    gas_used: Family<ChainLabels, Counter>,
    fee_paid_gwei: Family<ChainLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    fee_bumps: Family<ChainLabels, Counter>,
    fee_capped: Family<ChainLabels, Counter>,
    reorgs: Family<ChainLabels, Counter>,
    resent: Family<ChainLabels, Counter>,
    rpc_errors: Family<ChainLabels, Counter>,
    node_disagreements: Family<ChainLabels, Counter>,
    reverted: Family<ChainLabels, Counter>,
    pool: PoolGauges,
    stalled: Family<ChainLabels, Gauge>,
    /// The chains `stalled` is 1 for, for readiness.
    stalled_chains: Mutex<BTreeSet<String>>,
}

/// One counter of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    FeeBump,
    FeeCapped,
    Reorg,
    Resent,
    RpcError,
    NodeDisagreement,
    Reverted,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tagtrail_anchor");
        let anchors = Family::default();
        registry.register("anchors", "Anchors by state", anchors.clone());
        let lag_seconds = Family::default();
        registry.register(
            "lag_seconds",
            "Seconds since the oldest checkpoint no confirmed anchor covers was signed",
            lag_seconds.clone(),
        );
        let lag_entries = Family::default();
        registry.register(
            "lag_entries",
            "Entries between the newest checkpoint and the newest confirmed anchor",
            lag_entries.clone(),
        );
        let confirmed = Family::default();
        registry.register("confirmed", "Anchors confirmed", confirmed.clone());
        let gas_used = Family::default();
        registry.register(
            "gas_used",
            "Gas used by confirmed anchors",
            gas_used.clone(),
        );
        let fee_paid_gwei = Family::default();
        registry.register(
            "fee_paid_gwei",
            "Fees paid for confirmed anchors, in gwei",
            fee_paid_gwei.clone(),
        );
        let fee_bumps = Family::default();
        registry.register(
            "fee_bumps",
            "Replacement transactions with higher fees",
            fee_bumps.clone(),
        );
        let fee_capped = Family::default();
        registry.register(
            "fee_capped",
            "Times the fee cap held an anchor or a bump back",
            fee_capped.clone(),
        );
        let reorgs = Family::default();
        registry.register(
            "reorgs",
            "Reorgs that removed or moved an anchor",
            reorgs.clone(),
        );
        let resent = Family::default();
        registry.register("resent", "Signed transactions sent again", resent.clone());
        let rpc_errors = Family::default();
        registry.register("rpc_errors", "Failed JSON-RPC calls", rpc_errors.clone());
        let node_disagreements = Family::default();
        registry.register(
            "node_disagreements",
            "Node answers contradicted by another node or by the block's hashes",
            node_disagreements.clone(),
        );
        let reverted = Family::default();
        registry.register(
            "reverted",
            "Anchors proven reverted from their block",
            reverted.clone(),
        );
        let stalled = Family::default();
        registry.register(
            "stalled",
            "1 while a checkpoint older than stall_after has no confirmed anchor",
            stalled.clone(),
        );
        let pool = PoolGauges::register(&mut registry);
        Self {
            registry,
            pool,
            anchors,
            lag_seconds,
            lag_entries,
            confirmed,
            gas_used,
            fee_paid_gwei,
            fee_bumps,
            fee_capped,
            reorgs,
            resent,
            rpc_errors,
            node_disagreements,
            reverted,
            stalled,
            stalled_chains: Mutex::new(BTreeSet::new()),
        }
    }

    fn chain(name: &str) -> ChainLabels {
        ChainLabels {
            chain: name.to_owned(),
        }
    }

    /// Makes every series of a chain exist (at zero) from its start, so that rates and alerts
    /// see the chain before anything happens on it.
    pub fn register_chain(&self, name: &str) {
        let labels = Self::chain(name);
        for family in [
            &self.confirmed,
            &self.gas_used,
            &self.fee_bumps,
            &self.fee_capped,
            &self.reorgs,
            &self.resent,
            &self.rpc_errors,
            &self.node_disagreements,
            &self.reverted,
        ] {
            family.get_or_create(&labels).inc_by(0);
        }
        self.fee_paid_gwei.get_or_create(&labels).inc_by(0.0);
        self.lag_seconds.get_or_create(&labels).set(0.0);
        self.lag_entries.get_or_create(&labels).set(0);
        self.stalled.get_or_create(&labels).set(0);
        for state in State::ALL {
            self.anchors
                .get_or_create(&StateLabels {
                    chain: name.to_owned(),
                    state: state.as_str(),
                })
                .set(0);
        }
    }

    /// Counts one event of a chain.
    pub fn count(&self, chain: &str, event: Event) {
        let family = match event {
            Event::FeeBump => &self.fee_bumps,
            Event::FeeCapped => &self.fee_capped,
            Event::Reorg => &self.reorgs,
            Event::Resent => &self.resent,
            Event::RpcError => &self.rpc_errors,
            Event::NodeDisagreement => &self.node_disagreements,
            Event::Reverted => &self.reverted,
        };
        family.get_or_create(&Self::chain(chain)).inc();
    }

    /// Counts a confirmed anchor and what it cost.
    pub fn confirmed(&self, chain: &str, gas_used: u64, fee_paid_wei: u128) {
        let labels = Self::chain(chain);
        self.confirmed.get_or_create(&labels).inc();
        self.gas_used.get_or_create(&labels).inc_by(gas_used);
        #[allow(clippy::cast_precision_loss)] // gwei as a float: the metric's precision is ample
        self.fee_paid_gwei
            .get_or_create(&labels)
            .inc_by(fee_paid_wei as f64 / 1e9);
    }

    /// Sets a chain's state gauges.
    pub fn state(&self, chain: &str, counts: &[(State, i64)], lag_entries: u64, lag_seconds: f64) {
        for state in State::ALL {
            let count = counts
                .iter()
                .find(|(found, _)| *found == state)
                .map_or(0, |(_, count)| *count);
            self.anchors
                .get_or_create(&StateLabels {
                    chain: chain.to_owned(),
                    state: state.as_str(),
                })
                .set(count);
        }
        let labels = Self::chain(chain);
        self.lag_entries
            .get_or_create(&labels)
            .set(i64::try_from(lag_entries).unwrap_or(i64::MAX));
        self.lag_seconds.get_or_create(&labels).set(lag_seconds);
    }

    /// Whether a chain's anchoring has stalled (see `stall_after`).
    pub fn set_stalled(&self, chain: &str, stalled: bool) {
        self.stalled
            .get_or_create(&Self::chain(chain))
            .set(i64::from(stalled));
        let mut chains = self
            .stalled_chains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if stalled {
            chains.insert(chain.to_owned());
        } else {
            chains.remove(chain);
        }
    }

    /// The chains whose anchoring has stalled, by name.
    pub fn stalled_chains(&self) -> Vec<String> {
        self.stalled_chains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        service_kit::metrics::text(&self.registry)
    }

    /// Sets the database pool gauges from the pool's status.
    pub fn pool(&self, status: impl Into<service_kit::metrics::PoolStatus>) {
        self.pool.set(status);
    }
}
