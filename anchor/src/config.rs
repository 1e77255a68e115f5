//! The worker's settings: a TOML file, `TAGTRAIL_ANCHOR_<SECTION>_<KEY>` environment overrides of
//! the `database`, `metrics` and `log` sections, then the command-line flags, checked once at
//! start-up. `anchor/anchor.example.toml` shows every setting.
//!
//! Chains are tables under `[chains.<name>]`, one per chain; the name labels metrics and logs. A
//! chain's signing key comes from a file (`key_file`) or an environment variable (`key_env`); it
//! is never part of the settings text and never logged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use service_kit::config::{CommonFlags, DATABASE_URL, Flag, Schema, duration};

pub use service_kit::config::ConfigError;
pub use service_kit::log::{LogConfig, LogFormat};

use crate::rpc::Rpc;
use crate::tx::Signer;
use crate::worker::{ChainSettings, Finality};

/// The prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "TAGTRAIL_ANCHOR_";

/// The name of the chain given with flags alone (`--rpc-url`, `--chain-id`, `--key-file`).
pub const FLAG_CHAIN: &str = "default";

const SCHEMA: Schema = Schema {
    env_prefix: ENV_PREFIX,
    sections: &[
        ("database", &["url", "pool_size"]),
        ("metrics", &["listen"]),
        ("log", &["format", "filter"]),
    ],
    strict: false,
};

/// Every setting of the worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub chains: BTreeMap<String, ChainConfig>,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/database`, a login role in `tagtrail_anchor`.
    pub url: SecretString,
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
}

/// `[metrics]`: where `/metrics` and the health endpoints are served (none when absent).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub listen: Option<SocketAddr>,
}

/// `[chains.<name>]`: one chain to anchor on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The node's JSON-RPC URL (secret: it may hold an API key).
    pub rpc_url: SecretString,
    /// The EIP-155 chain id the node must serve.
    pub chain_id: u64,
    /// A file holding the signing key (64 hex digits).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Or an environment variable holding it.
    #[serde(default)]
    pub key_env: Option<String>,
    /// The anchor contract; by default the one the key's first transaction creates (deployed by
    /// the worker if the key has sent nothing yet).
    #[serde(default)]
    pub contract: Option<Address>,
    /// The least time between two anchors on this chain.
    #[serde(default = "default_interval", deserialize_with = "duration")]
    pub interval: Duration,
    /// Blocks deep (counting the anchor's own) before an anchor is confirmed.
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// Confirm at the chain's `finalized` block instead of counting confirmations.
    #[serde(default)]
    pub finalized: bool,
    /// The most the worker offers per gas, in gwei (`maxFeePerGas`).
    #[serde(default = "default_fee_cap_gwei")]
    pub fee_cap_gwei: f64,
    /// How long a transaction may wait for a block before it is replaced with higher fees.
    #[serde(default = "default_bump_after", deserialize_with = "duration")]
    pub bump_after: Duration,
    /// How often the worker looks at the chain.
    #[serde(default = "default_poll", deserialize_with = "duration")]
    pub poll: Duration,
    /// The longest one JSON-RPC call may take.
    #[serde(default = "default_rpc_timeout", deserialize_with = "duration")]
    pub rpc_timeout: Duration,
    /// The gas limit of an anchor transaction (it uses about 26,500).
    #[serde(default = "default_gas_limit")]
    pub gas_limit: u64,
    /// More nodes of the same chain (other providers), secret like `rpc_url`: asked for receipts
    /// and to agree on blocks before anything is final.
    #[serde(default)]
    pub witness_rpc_urls: Vec<SecretString>,
    /// How many of all the chain's nodes must agree; by default a majority of them.
    #[serde(default)]
    pub quorum: Option<usize>,
    /// Readiness fails (and the `AnchorStalled` alert fires) while a checkpoint signed this long
    /// ago has no confirmed anchor; by default `interval` plus an hour.
    #[serde(default, deserialize_with = "optional_duration")]
    pub stall_after: Option<Duration>,
}

impl ChainConfig {
    fn nodes(&self) -> usize {
        self.witness_rpc_urls.len() + 1
    }

    fn quorum(&self) -> usize {
        self.quorum.unwrap_or(self.nodes() / 2 + 1)
    }
}

fn optional_duration<'de, D>(deserializer: D) -> Result<Option<Duration>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    duration(deserializer).map(Some)
}

/// Settings given on the command line, which win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--database-url`, `--metrics-listen` (its `listen`) and `--log-format`.
    pub common: CommonFlags,
    /// A chain given by flags (named [`FLAG_CHAIN`]).
    pub chain: Option<FlagChain>,
}

/// The one chain `--rpc-url`, `--chain-id` and `--key-file` describe.
#[derive(Debug, Clone)]
pub struct FlagChain {
    pub rpc_url: SecretString,
    pub chain_id: u64,
    pub key_file: PathBuf,
    pub contract: Option<Address>,
    pub interval: Option<Duration>,
    pub confirmations: Option<u64>,
}

impl Overrides {
    fn flags(&self) -> Vec<Flag> {
        let text = |value: String| toml::Value::String(value);
        let mut flags = self.common.settings("metrics");
        if let Some(chain) = &self.chain {
            let mut table = toml::Table::new();
            table.insert(
                "rpc_url".into(),
                text(chain.rpc_url.expose_secret().to_owned()),
            );
            table.insert(
                "chain_id".into(),
                toml::Value::Integer(i64::try_from(chain.chain_id).unwrap_or(i64::MAX)),
            );
            table.insert(
                "key_file".into(),
                text(chain.key_file.display().to_string()),
            );
            if let Some(contract) = chain.contract {
                table.insert("contract".into(), text(contract.to_string()));
            }
            if let Some(interval) = chain.interval {
                table.insert(
                    "interval".into(),
                    text(format!("{}ms", interval.as_millis())),
                );
            }
            if let Some(confirmations) = chain.confirmations {
                table.insert(
                    "confirmations".into(),
                    toml::Value::Integer(i64::try_from(confirmations).unwrap_or(i64::MAX)),
                );
            }
            flags.push(("chains", FLAG_CHAIN, toml::Value::Table(table)));
        }
        flags
    }
}

impl Config {
    /// Loads the settings: the file at `path` if any, then the `TAGTRAIL_ANCHOR_*` variables of
    /// `environment`, then `overrides`; then checks them.
    pub fn load(
        path: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
        overrides: Overrides,
    ) -> Result<Self, ConfigError> {
        let config: Config = SCHEMA.load(path, environment, overrides.flags(), &[DATABASE_URL])?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if self.database.pool_size == 0 {
            return invalid("database.pool_size must be at least 1".to_owned());
        }
        if self
            .database
            .url
            .expose_secret()
            .parse::<tokio_postgres::Config>()
            .is_err()
        {
            return invalid(
                "database.url is not a PostgreSQL connection URL (postgres://user:password@host:port/database)"
                    .to_owned(),
            );
        }
        if self.chains.is_empty() {
            return invalid(
                "no chain to anchor on: add a [chains.<name>] table, or give --rpc-url, --chain-id and --key-file"
                    .to_owned(),
            );
        }
        for (name, chain) in &self.chains {
            let url = chain.rpc_url.expose_secret();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(format!(
                    "chains.{name}.rpc_url must be an http:// or https:// URL"
                ));
            }
            for (index, witness) in chain.witness_rpc_urls.iter().enumerate() {
                let url = witness.expose_secret();
                let earlier = std::iter::once(&chain.rpc_url)
                    .chain(&chain.witness_rpc_urls[..index])
                    .any(|other| other.expose_secret() == url);
                if earlier {
                    return invalid(format!(
                        "chains.{name}.witness_rpc_urls[{index}] repeats another node of the chain: each node counts once toward the quorum"
                    ));
                }
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return invalid(format!(
                        "chains.{name}.witness_rpc_urls[{index}] must be an http:// or https:// URL"
                    ));
                }
            }
            if chain.quorum() == 0 || chain.quorum() > chain.nodes() {
                return invalid(format!(
                    "chains.{name}.quorum must be between 1 and the number of nodes ({})",
                    chain.nodes()
                ));
            }
            if chain.stall_after.is_some_and(|stall| stall.is_zero()) {
                return invalid(format!("chains.{name}.stall_after must be above zero"));
            }
            if chain.chain_id == 0 {
                return invalid(format!("chains.{name}.chain_id must be above zero"));
            }
            match (&chain.key_file, &chain.key_env) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return invalid(format!(
                        "chains.{name}: give exactly one of key_file and key_env"
                    ));
                }
            }
            if chain.confirmations == 0 {
                return invalid(format!("chains.{name}.confirmations must be at least 1"));
            }
            if !(chain.fee_cap_gwei.is_finite() && chain.fee_cap_gwei > 0.0) {
                return invalid(format!("chains.{name}.fee_cap_gwei must be above zero"));
            }
            if chain.poll.is_zero() || chain.rpc_timeout.is_zero() {
                return invalid(format!(
                    "chains.{name}.poll and rpc_timeout must be above zero"
                ));
            }
            if chain.gas_limit < 30_000 {
                return invalid(format!(
                    "chains.{name}.gas_limit must be at least 30000 (an anchor uses about 26,500)"
                ));
            }
        }
        Ok(())
    }

    /// Each chain's worker settings: reads the signing keys (from their files or variables of
    /// `environment`), never showing them.
    pub fn chain_settings(
        &self,
        environment: &BTreeMap<String, String>,
    ) -> Result<Vec<ChainSettings>, ConfigError> {
        self.chains
            .iter()
            .map(|(name, chain)| {
                let signer = match (&chain.key_file, &chain.key_env) {
                    (Some(path), _) => Signer::from_file(path).map_err(|error| {
                        ConfigError::Invalid(format!("chains.{name}.key_file: {error}"))
                    })?,
                    (None, Some(variable)) => {
                        let text = environment.get(variable).ok_or_else(|| {
                            ConfigError::Invalid(format!(
                                "chains.{name}.key_env: the variable {variable} is not set"
                            ))
                        })?;
                        Signer::from_hex(text).map_err(|error| {
                            ConfigError::Invalid(format!(
                                "chains.{name}.key_env ({variable}): {error}"
                            ))
                        })?
                    }
                    (None, None) => {
                        return Err(ConfigError::Invalid(format!(
                            "chains.{name}: give key_file or key_env"
                        )));
                    }
                };
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let fee_cap = (chain.fee_cap_gwei * 1e9) as u128;
                Ok(ChainSettings {
                    name: name.clone(),
                    rpc: Rpc::new(&chain.rpc_url, chain.rpc_timeout),
                    chain_id: chain.chain_id,
                    signer: Arc::new(signer),
                    contract: chain.contract,
                    interval: chain.interval,
                    poll: chain.poll,
                    finality: if chain.finalized {
                        Finality::Finalized
                    } else {
                        Finality::Confirmations(chain.confirmations)
                    },
                    fee_cap,
                    bump_after: chain.bump_after,
                    gas_limit: chain.gas_limit,
                    witnesses: chain
                        .witness_rpc_urls
                        .iter()
                        .map(|url| Rpc::new(url, chain.rpc_timeout))
                        .collect(),
                    quorum: chain.quorum(),
                    stall_after: chain
                        .stall_after
                        .unwrap_or_else(|| chain.interval + Duration::from_secs(3600)),
                })
            })
            .collect()
    }
}

fn default_pool_size() -> usize {
    4
}
fn default_interval() -> Duration {
    Duration::from_secs(3600)
}
fn default_confirmations() -> u64 {
    12
}
fn default_fee_cap_gwei() -> f64 {
    100.0
}
fn default_bump_after() -> Duration {
    Duration::from_secs(180)
}
fn default_poll() -> Duration {
    Duration::from_secs(12)
}
fn default_rpc_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_gas_limit() -> u64 {
    40_000
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    use service_kit::config::environment as env;

    fn flags() -> Overrides {
        Overrides {
            common: CommonFlags {
                database_url: Some(SecretString::from("postgres://u:p@127.0.0.1:5432/db")),
                ..CommonFlags::default()
            },
            chain: Some(FlagChain {
                rpc_url: SecretString::from("http://127.0.0.1:8545"),
                chain_id: 31337,
                key_file: PathBuf::from("/nonexistent/key"),
                contract: None,
                interval: Some(Duration::from_secs(5)),
                confirmations: Some(2),
            }),
        }
    }

    #[test]
    fn flags_alone_describe_one_chain() {
        let config = Config::load(None, env(&[]), flags()).unwrap();
        let chain = &config.chains[FLAG_CHAIN];
        assert_eq!(chain.chain_id, 31337);
        assert_eq!(chain.interval, Duration::from_secs(5));
        assert_eq!(chain.confirmations, 2);
        assert_eq!(chain.gas_limit, 40_000);
        // The key file does not exist: reading the keys names the setting.
        let error = config.chain_settings(&BTreeMap::new()).unwrap_err();
        assert!(
            error.to_string().contains("chains.default.key_file"),
            "{error}"
        );
    }

    #[test]
    fn no_chain_is_refused_with_how_to_give_one() {
        let overrides = Overrides {
            chain: None,
            ..flags()
        };
        let error = Config::load(None, env(&[]), overrides).unwrap_err();
        assert!(error.to_string().contains("--rpc-url"), "{error}");
        let error = Config::load(None, env(&[]), Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("--database-url"), "{error}");
    }

    #[test]
    fn bad_chain_settings_are_refused_naming_the_setting() {
        let dir = std::env::temp_dir().join(format!("anchor-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            (
                "rpc_url = \"ws://x\"\nchain_id = 1\nkey_env = \"K\"",
                "chains.x.rpc_url",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 0\nkey_env = \"K\"",
                "chains.x.chain_id",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1",
                "key_file and key_env",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\nconfirmations = 0",
                "chains.x.confirmations",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\nfee_cap_gwei = -1.0",
                "chains.x.fee_cap_gwei",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\ngas_limit = 21000",
                "chains.x.gas_limit",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\ninterval = \"1 day\"",
                "unknown unit",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\ncolour = 1",
                "colour",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\nwitness_rpc_urls = [\"ws://y\"]",
                "chains.x.witness_rpc_urls[0]",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\nquorum = 2",
                "chains.x.quorum",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\nwitness_rpc_urls = [\"http://x\"]",
                "repeats another node",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\nquorum = 0",
                "chains.x.quorum",
            ),
            (
                "rpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\nstall_after = \"0s\"",
                "chains.x.stall_after",
            ),
        ];
        for (number, (chain, expected)) in cases.iter().enumerate() {
            let path = dir.join(format!("{number}.toml"));
            std::fs::write(
                &path,
                format!("[database]\nurl = \"postgres://u:p@h/d\"\n[chains.x]\n{chain}\n"),
            )
            .unwrap();
            let error = Config::load(Some(&path), env(&[]), Overrides::default()).unwrap_err();
            assert!(error.to_string().contains(expected), "{chain}: {error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_from_the_environment_is_read_and_a_missing_one_named() {
        let path =
            std::env::temp_dir().join(format!("anchor-config-env-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[database]\nurl = \"postgres://u:p@h/d\"\n[chains.x]\nrpc_url = \"http://x\"\nchain_id = 1\nkey_env = \"K\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&path), env(&[]), Overrides::default()).unwrap();
        std::fs::remove_file(&path).unwrap();
        let error = config.chain_settings(&BTreeMap::new()).unwrap_err();
        assert!(error.to_string().contains("K is not set"), "{error}");
        let key = Signer::generate();
        let variables = BTreeMap::from([("K".to_owned(), key.to_hex().to_string())]);
        let settings = config.chain_settings(&variables).unwrap();
        assert_eq!(settings[0].signer.address(), key.address());
        assert!(!format!("{settings:?}").contains(key.to_hex().as_str()));
    }

    #[test]
    fn the_sample_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("anchor.example.toml");
        let config = Config::load(Some(&path), env(&[]), Overrides::default()).unwrap();
        assert_eq!(config.chains.len(), 2);
        let sepolia = &config.chains["sepolia"];
        assert_eq!(sepolia.nodes(), 3);
        assert_eq!(sepolia.quorum(), 2, "a majority by default");
        assert_eq!(config.chains["local"].quorum(), 1);
    }
}
