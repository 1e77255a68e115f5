//! The service's settings: a TOML file, `TAGTRAIL_INGEST_<SECTION>_<KEY>` environment overrides,
//! then the command-line flags, parsed and checked once at start-up.
//!
//! ```toml
//! [http]
//! listen = "127.0.0.1:8080"     # address to bind
//! operator_listen = "127.0.0.1:9090"   # /health/* and /metrics here only, not rate limited
//!                               # (default: none; they are public routes, limited like the rest)
//! workers = 2                   # HTTP worker threads (default: one per CPU)
//! shutdown_timeout = "30s"      # how long in-flight captures may take to finish on shutdown
//!
//! [database]
//! url = "postgres://tagtrail_ingest_svc:...@127.0.0.1:5432/tagtrail"
//! pool_size = 16
//! connect_timeout = "5s"
//!
//! [ledger]
//! checkpoint_key_file = "checkpoint-signer.key"   # written by `tagtrail keygen`
//! additional_checkpoint_key_files = ["new.key"]  # during a key rotation: these sign too
//! origin = "tagtrail.example/log"                 # default: the key's name
//! checkpoint_interval = "500ms"
//! checkpoint_index_wait = "2s"   # how long a checkpoint may wait for the index to cover its tree
//! resign_idle_checkpoint = true  # an idle log's newest checkpoint signed again once the index
//!                                # covers its tree (false while binaries older than V37 read it)
//! published_checkpoint_file = "/var/lib/tagtrail/log.published"   # default: <key file>.published
//! anchor_rpc_url = "https://rpc.example/KEY"   # optional: the newest anchor on chain counts as published
//!
//! [limits]
//! max_body_bytes = 33554432
//! max_events_per_document = 10000
//! max_epcs_per_event = 20000
//! max_event_bytes = 1048576     # one event's compact JSON
//! clock_skew = "5m"             # how far in the future an eventTime may be
//! requests_per_second = 1000    # per client address (an IPv4 address, an IPv6 /64), sustained
//! burst = 2000                  # per client address, at once
//! max_clients = 100000          # client addresses tracked by the rate limiter
//! rate_limited_delay = "1s"     # a 429 is answered this late (at most its Retry-After)
//!
//! [log]
//! format = "text"               # or "json"
//! filter = "info"               # tracing-subscriber EnvFilter syntax; RUST_LOG wins when set
//! ```
//!
//! Every key can be set from the environment: `TAGTRAIL_INGEST_HTTP_LISTEN`,
//! `TAGTRAIL_INGEST_LIMITS_MAX_EVENTS_PER_DOCUMENT`, ... (the section and the key, upper case;
//! the value is read as a TOML value when it is one, so
//! `TAGTRAIL_INGEST_LEDGER_ADDITIONAL_CHECKPOINT_KEY_FILES='["a.key", "b.key"]'` is a list, and
//! a bare path one file).
//! An unknown key, in the file or in a `TAGTRAIL_INGEST_<SECTION>_...` variable, is an error that
//! names it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use service_kit::config::{CommonFlags, DATABASE_URL, Flag, Required, Schema, duration};

pub use service_kit::config::{ConfigError, parse_duration};
pub use service_kit::log::{LogConfig, LogFormat};

/// The prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "TAGTRAIL_INGEST_";

/// The sections and keys of the settings.
const SCHEMA: Schema = Schema {
    env_prefix: ENV_PREFIX,
    sections: &[
        service_kit::config::HTTP_SECTION,
        ("database", &["url", "pool_size", "connect_timeout"]),
        (
            "ledger",
            &[
                "checkpoint_key_file",
                "additional_checkpoint_key_files",
                "origin",
                "checkpoint_interval",
                "checkpoint_index_wait",
                "resign_idle_checkpoint",
                "published_checkpoint_file",
                "anchor_rpc_url",
                "anchor_contract",
                "anchor_from_block",
            ],
        ),
        (
            "limits",
            &[
                "max_body_bytes",
                "max_events_per_document",
                "max_epcs_per_event",
                "max_event_bytes",
                "clock_skew",
                "requests_per_second",
                "burst",
                "max_clients",
                "rate_limited_delay",
            ],
        ),
        ("log", &["format", "filter"]),
    ],
    strict: false,
};

/// Every setting of the service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    #[serde(default)]
    pub http: HttpConfig,
    /// The PostgreSQL database holding the ledger.
    pub database: DatabaseConfig,
    /// The log and its checkpoints.
    pub ledger: LedgerConfig,
    /// What one capture may hold.
    #[serde(default)]
    pub limits: Limits,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
}

/// `[http]`: 127.0.0.1:8080, 30 s to finish after a shutdown signal, no request time limit of its own (a capture answers once its events are durable).
pub type HttpConfig = service_kit::config::HttpConfig<8080, 30, 0>;

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/database` (secret: it may hold a password).
    pub url: SecretString,
    /// The most connections of the request pool (registry reads, capture jobs); the ledger store
    /// opens a pool of its own.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// How long opening a connection or waiting for a free one may take.
    #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
    pub connect_timeout: Duration,
}

/// `[ledger]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// The checkpoint signing key (`PRIVATE+KEY+<name>+<id>+<base64>`, from `tagtrail keygen`):
    /// the log's primary key, whose signature comes first in every checkpoint (the one an anchor
    /// carries).
    pub checkpoint_key_file: PathBuf,
    /// More checkpoint signing keys, during a key rotation (docs/OPERATIONS.md, "Checkpoint key
    /// rotation"): each signs every checkpoint too, after the primary key, in this order. Each
    /// must be another key than every other one (its own key id) with the primary key's name.
    #[serde(default, deserialize_with = "one_or_many")]
    pub additional_checkpoint_key_files: Vec<PathBuf>,
    /// The log's origin line in its checkpoints; by default the key's name.
    #[serde(default)]
    pub origin: Option<String>,
    /// How often the checkpoint signer looks for growth.
    #[serde(default = "default_checkpoint_interval", deserialize_with = "duration")]
    pub checkpoint_interval: Duration,
    /// How long a checkpoint may be put off for the verifiable index to cover its tree
    /// (`ledger_store::Checkpointer::with_index_wait`); zero: never.
    #[serde(
        default = "default_checkpoint_index_wait",
        deserialize_with = "duration"
    )]
    pub checkpoint_index_wait: Duration,
    /// Whether an idle log's newest checkpoint, signed while the index trailed, is signed again
    /// at the same size and root once the index covers its tree, so that every entry is proven
    /// complete (`ledger_store::Checkpointer::with_idle_resign`; default true). Binaries older
    /// than migration V37 cannot read a size signed twice: false until none reads the database.
    #[serde(default = "default_true")]
    pub resign_idle_checkpoint: bool,
    /// The file recording the newest checkpoint the log published, outside the database (the
    /// signer refuses to sign while the database does not hold its tree: a restored old backup);
    /// by default the key file's path with `.published` appended. See
    /// [`published_checkpoint_file`](Self::published_checkpoint_file).
    #[serde(default)]
    pub published_checkpoint_file: Option<PathBuf>,
    /// A chain's JSON-RPC URL where the log is anchored (secret: it may hold an API key). At
    /// start-up ingest looks up the newest anchor of its origin signed by its keys there, and
    /// records it as published when it is newer than the published-checkpoint file, so that a
    /// database restored from before it is refused even when that file was lost too.
    #[serde(default)]
    pub anchor_rpc_url: Option<secrecy::SecretString>,
    /// The anchor contract to look in (default: every contract's events for the origin).
    #[serde(default)]
    pub anchor_contract: Option<String>,
    /// The first block to search for anchors (the contract's deployment block on a public chain).
    #[serde(default)]
    pub anchor_from_block: u64,
}

impl LedgerConfig {
    /// Where the newest published checkpoint is kept: `published_checkpoint_file`, or
    /// `<checkpoint_key_file>.published` next to the key.
    pub fn published_checkpoint_file(&self) -> PathBuf {
        self.published_checkpoint_file
            .clone()
            .unwrap_or_else(|| default_published_file(&self.checkpoint_key_file))
    }
}

/// The published-checkpoint file of a key file when it is not set: `<key file>.published`.
pub fn default_published_file(key_file: &Path) -> PathBuf {
    let mut path = key_file.to_owned().into_os_string();
    path.push(".published");
    PathBuf::from(path)
}

/// Deserializes a list of paths, or one path alone (what an environment variable holding a bare
/// path gives).
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(path) => vec![path],
        OneOrMany::Many(paths) => paths,
    })
}

/// `[limits]`: what one capture may hold. Larger captures get `413` with a
/// `CaptureLimitExceededException` problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The largest request body, in bytes (`GS1-EPCIS-Capture-File-Size-Limit`).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// The most events in one document (`GS1-EPCIS-Capture-Limit`).
    #[serde(default = "default_max_events")]
    pub max_events_per_document: usize,
    /// The most EPCs one event may list (`epcList`, `childEPCs`, `inputEPCList`, `outputEPCList`).
    #[serde(default = "default_max_epcs")]
    pub max_epcs_per_event: usize,
    /// The largest event, in bytes of its compact JSON as the document carries it (what a reader
    /// of the ledger loads for every history naming it).
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: usize,
    /// How far in the future an event's `eventTime` may be (reporters' clocks drift): later ones
    /// are refused.
    #[serde(default = "default_clock_skew", deserialize_with = "duration")]
    pub clock_skew: Duration,
    /// Requests per second one client (an IPv4 address, an IPv6 /64) may send, sustained; more
    /// are answered `429` before anything else is done with them (a device or site is
    /// authenticated only after that). Devices behind one gateway's address share it.
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: u32,
    /// Requests one client may send at once.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Client addresses the rate limiter tracks (the least recently seen are forgotten).
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// How long a request over its client's rate waits before its `429` (never longer than the
    /// `Retry-After` it is given): a client flooding on its connections gets about one answer
    /// per connection per delay.
    #[serde(default = "default_rate_limited_delay", deserialize_with = "duration")]
    pub rate_limited_delay: Duration,
}

fn default_requests_per_second() -> u32 {
    1000
}
fn default_burst() -> u32 {
    2000
}
fn default_max_clients() -> usize {
    100_000
}
fn default_rate_limited_delay() -> Duration {
    Duration::from_secs(1)
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_events_per_document: default_max_events(),
            max_epcs_per_event: default_max_epcs(),
            max_event_bytes: default_max_event_bytes(),
            clock_skew: default_clock_skew(),
            requests_per_second: default_requests_per_second(),
            burst: default_burst(),
            max_clients: default_max_clients(),
            rate_limited_delay: default_rate_limited_delay(),
        }
    }
}

/// Settings given on the command line, which win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--database-url`, `--listen` and `--log-format`.
    pub common: CommonFlags,
    /// `--checkpoint-key`.
    pub checkpoint_key_file: Option<PathBuf>,
    /// `--additional-checkpoint-key`, repeated (replaces the list of the file and the
    /// environment when given).
    pub additional_checkpoint_key_files: Vec<PathBuf>,
}

impl Overrides {
    /// The flags as (section, key, value) settings.
    fn flags(&self) -> Vec<Flag> {
        let text = |value: String| toml::Value::String(value);
        let mut flags = self.common.settings("http");
        if let Some(path) = &self.checkpoint_key_file {
            let path = path.to_string_lossy().into_owned();
            flags.push(("ledger", "checkpoint_key_file", text(path)));
        }
        if !self.additional_checkpoint_key_files.is_empty() {
            let paths = self
                .additional_checkpoint_key_files
                .iter()
                .map(|path| text(path.to_string_lossy().into_owned()))
                .collect();
            flags.push((
                "ledger",
                "additional_checkpoint_key_files",
                toml::Value::Array(paths),
            ));
        }
        flags
    }
}

impl Config {
    /// Loads the settings: the file at `path` if any, then the `TAGTRAIL_INGEST_*` variables of
    /// `environment`, then `overrides`; then checks them.
    pub fn load(
        path: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
        overrides: Overrides,
    ) -> Result<Self, ConfigError> {
        let required = [
            DATABASE_URL,
            Required {
                section: "ledger",
                key: "checkpoint_key_file",
                flag: "--checkpoint-key",
            },
        ];
        let config: Config = SCHEMA.load(path, environment, overrides.flags(), &required)?;
        config.check()?;
        Ok(config)
    }

    /// The settings of a test or an embedding program, built in code and checked.
    pub fn new(
        database_url: SecretString,
        checkpoint_key_file: PathBuf,
        listen: SocketAddr,
    ) -> Result<Self, ConfigError> {
        let config = Self {
            http: HttpConfig {
                listen,
                ..HttpConfig::default()
            },
            database: DatabaseConfig {
                url: database_url,
                pool_size: default_pool_size(),
                connect_timeout: default_connect_timeout(),
            },
            ledger: LedgerConfig {
                checkpoint_key_file,
                additional_checkpoint_key_files: Vec::new(),
                origin: None,
                checkpoint_interval: default_checkpoint_interval(),
                checkpoint_index_wait: default_checkpoint_index_wait(),
                resign_idle_checkpoint: true,
                published_checkpoint_file: None,
                anchor_rpc_url: None,
                anchor_contract: None,
                anchor_from_block: 0,
            },
            limits: Limits::default(),
            log: LogConfig::default(),
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        self.http.check()?;
        if self.limits.requests_per_second == 0
            || self.limits.burst == 0
            || self.limits.max_clients == 0
        {
            return invalid(
                "limits.requests_per_second, limits.burst and limits.max_clients must be at least 1",
            );
        }
        if self.database.pool_size < MIN_POOL_SIZE {
            return Err(ConfigError::Invalid(format!(
                "database.pool_size must be at least {MIN_POOL_SIZE} (the capture job writer holds one connection while it writes; requests need at least one more; the ledger store has a pool of its own, of {} connections)",
                ledger_store::STORE_CONNECTIONS
            )));
        }
        if self
            .database
            .url
            .expose_secret()
            .parse::<tokio_postgres::Config>()
            .is_err()
        {
            return invalid(
                "database.url is not a PostgreSQL connection URL (postgres://user:password@host:port/database)",
            );
        }
        if self.limits.max_body_bytes == 0
            || self.limits.max_events_per_document == 0
            || self.limits.max_epcs_per_event == 0
            || self.limits.max_event_bytes == 0
        {
            return invalid("limits.* must be at least 1");
        }
        if self.limits.max_events_per_document > ledger::batch::MAX_BATCH_SIZE as usize {
            return invalid(
                "limits.max_events_per_document must be at most 1048576 (the largest device batch)",
            );
        }
        let keys = &self.ledger.additional_checkpoint_key_files;
        for (i, path) in keys.iter().enumerate() {
            if *path == self.ledger.checkpoint_key_file {
                return Err(ConfigError::Invalid(format!(
                    "ledger.additional_checkpoint_key_files lists {}, the primary key (ledger.checkpoint_key_file): each checkpoint key is configured once",
                    path.display()
                )));
            }
            if keys[..i].contains(path) {
                return Err(ConfigError::Invalid(format!(
                    "ledger.additional_checkpoint_key_files lists {} twice: each checkpoint key is configured once",
                    path.display()
                )));
            }
        }
        if self.ledger.checkpoint_interval.is_zero() {
            return invalid("ledger.checkpoint_interval must be above zero");
        }
        if self
            .ledger
            .published_checkpoint_file
            .as_ref()
            .is_some_and(|path| path.file_name().is_none())
        {
            return invalid(
                "ledger.published_checkpoint_file must name a file (in a directory ingest may write to)",
            );
        }
        Ok(())
    }
}

/// The request pool's smallest size: the capture job writer's connection and one for requests.
const MIN_POOL_SIZE: usize = 2;

fn default_pool_size() -> usize {
    16
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_checkpoint_interval() -> Duration {
    ledger_store::DEFAULT_CHECKPOINT_INTERVAL
}
fn default_checkpoint_index_wait() -> Duration {
    ledger_store::DEFAULT_INDEX_WAIT
}
fn default_true() -> bool {
    true
}
fn default_max_body_bytes() -> usize {
    32 * 1024 * 1024
}
fn default_max_events() -> usize {
    10_000
}
fn default_max_epcs() -> usize {
    20_000
}
fn default_max_event_bytes() -> usize {
    1024 * 1024
}

fn default_clock_skew() -> Duration {
    Duration::from_secs(300)
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
            checkpoint_key_file: Some(PathBuf::from("key")),
            additional_checkpoint_key_files: Vec::new(),
        }
    }

    #[test]
    fn flags_alone_are_enough() {
        let config = Config::load(None, env(&[]), flags()).unwrap();
        assert_eq!(config.http.listen, HttpConfig::default().listen);
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.ledger.checkpoint_key_file, PathBuf::from("key"));
    }

    #[test]
    fn environment_variables_override_settings_and_parse_as_toml_values() {
        let config = Config::load(
            None,
            env(&[
                ("TAGTRAIL_INGEST_LIMITS_MAX_EVENTS_PER_DOCUMENT", "500"),
                ("TAGTRAIL_INGEST_HTTP_LISTEN", "0.0.0.0:9000"),
                ("TAGTRAIL_INGEST_HTTP_SHUTDOWN_TIMEOUT", "5s"),
                ("TAGTRAIL_OTHER_THING", "ignored"),
            ]),
            flags(),
        )
        .unwrap();
        assert_eq!(config.limits.max_events_per_document, 500);
        assert_eq!(config.http.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.http.shutdown_timeout, Duration::from_secs(5));
    }

    #[test]
    fn an_unknown_environment_key_is_named() {
        let error = Config::load(
            None,
            env(&[("TAGTRAIL_INGEST_LIMITS_MAX_EPCS", "5")]),
            flags(),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("TAGTRAIL_INGEST_LIMITS_MAX_EPCS"),
            "{error}"
        );
    }

    #[test]
    fn a_request_time_limit_is_refused_not_ignored() {
        // ingest applies none of its own: accepting the key would promise a limit nobody keeps.
        let from_environment = Config::load(
            None,
            env(&[("TAGTRAIL_INGEST_HTTP_REQUEST_TIMEOUT", "5s")]),
            flags(),
        )
        .unwrap_err();
        let dir = std::env::temp_dir().join(format!("ingest-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("request-timeout.toml");
        std::fs::write(&path, "[http]\nrequest_timeout = \"5s\"\n").unwrap();
        let from_file = Config::load(Some(&path), env(&[]), flags()).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        for error in [from_environment, from_file] {
            let text = error.to_string();
            assert!(
                text.contains("http.request_timeout") && text.contains("not a setting"),
                "{text}"
            );
        }
    }

    #[test]
    fn an_unknown_file_key_is_refused_with_its_name() {
        let dir = std::env::temp_dir().join(format!("ingest-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ingest.toml");
        std::fs::write(&path, "[limits]\nmax_events = 3\n").unwrap();
        let error = Config::load(Some(&path), env(&[]), flags()).unwrap_err();
        assert!(error.to_string().contains("max_events"), "{error}");
    }

    #[test]
    fn a_missing_database_url_is_named() {
        let mut overrides = flags();
        overrides.common.database_url = None;
        let error = Config::load(None, env(&[]), overrides).unwrap_err();
        assert!(
            error.to_string().contains("database.url is required"),
            "{error}"
        );
    }

    #[test]
    fn a_pool_too_small_for_the_sequencer_and_requests_is_refused() {
        let small = |size: &str| {
            Config::load(
                None,
                env(&[("TAGTRAIL_INGEST_DATABASE_POOL_SIZE", size)]),
                flags(),
            )
        };
        // The job writer's connection and one for requests; the store sizes its own pool.
        let error = small("1").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("database.pool_size must be at least 2"),
            "{error}"
        );
        assert_eq!(small("2").unwrap().database.pool_size, 2);
    }

    #[test]
    fn the_published_checkpoint_file_is_next_to_the_key_unless_set() {
        let config = Config::load(None, env(&[]), flags()).unwrap();
        assert_eq!(
            config.ledger.published_checkpoint_file(),
            PathBuf::from("key.published")
        );
        let config = Config::load(
            None,
            env(&[(
                "TAGTRAIL_INGEST_LEDGER_PUBLISHED_CHECKPOINT_FILE",
                "/var/lib/tagtrail/log.published",
            )]),
            flags(),
        )
        .unwrap();
        assert_eq!(
            config.ledger.published_checkpoint_file(),
            PathBuf::from("/var/lib/tagtrail/log.published")
        );
        let error = Config::load(
            None,
            env(&[("TAGTRAIL_INGEST_LEDGER_PUBLISHED_CHECKPOINT_FILE", "/")]),
            flags(),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("ledger.published_checkpoint_file"),
            "{error}"
        );
    }

    #[test]
    fn additional_checkpoint_keys_come_from_the_file_the_environment_or_the_flags() {
        assert!(
            Config::load(None, env(&[]), flags())
                .unwrap()
                .ledger
                .additional_checkpoint_key_files
                .is_empty()
        );
        let dir = std::env::temp_dir().join(format!("ingest-config-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ingest.toml");
        std::fs::write(
            &path,
            "[ledger]\nadditional_checkpoint_key_files = [\"new.key\", \"newer.key\"]\n",
        )
        .unwrap();
        let config = Config::load(Some(&path), env(&[]), flags()).unwrap();
        assert_eq!(
            config.ledger.additional_checkpoint_key_files,
            [PathBuf::from("new.key"), PathBuf::from("newer.key")]
        );
        // The environment: a TOML list, or a bare path.
        let variable = "TAGTRAIL_INGEST_LEDGER_ADDITIONAL_CHECKPOINT_KEY_FILES";
        for (value, expected) in [
            (
                r#"["/etc/a.key", "/etc/b.key"]"#,
                vec!["/etc/a.key", "/etc/b.key"],
            ),
            ("/etc/tagtrail/new.key", vec!["/etc/tagtrail/new.key"]),
            ("[]", vec![]),
        ] {
            let config = Config::load(Some(&path), env(&[(variable, value)]), flags()).unwrap();
            let expected: Vec<PathBuf> = expected.into_iter().map(PathBuf::from).collect();
            assert_eq!(
                config.ledger.additional_checkpoint_key_files, expected,
                "{value}"
            );
        }
        // The flags replace the list.
        let mut overrides = flags();
        overrides.additional_checkpoint_key_files = vec![PathBuf::from("flag.key")];
        let config = Config::load(Some(&path), env(&[]), overrides).unwrap();
        assert_eq!(
            config.ledger.additional_checkpoint_key_files,
            [PathBuf::from("flag.key")]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_checkpoint_key_configured_twice_is_refused_naming_it() {
        let variable = "TAGTRAIL_INGEST_LEDGER_ADDITIONAL_CHECKPOINT_KEY_FILES";
        for (value, needle) in [
            (r#"["new.key", "new.key"]"#, "lists new.key twice"),
            (r#"["new.key", "key"]"#, "lists key, the primary key"),
        ] {
            let error = Config::load(None, env(&[(variable, value)]), flags()).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(needle), "{message}");
            assert!(
                message.contains("ledger.additional_checkpoint_key_files"),
                "{message}"
            );
        }
    }

    #[test]
    fn the_sample_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ingest.example.toml");
        let config = Config::load(Some(&path), env(&[]), Overrides::default()).unwrap();
        assert_eq!(config.log.format, LogFormat::Text);
    }
}
