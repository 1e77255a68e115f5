//! The service's settings: a TOML file, `TAGTRAIL_TRACE_<SECTION>_<KEY>` environment overrides,
//! then the command-line flags (`service_kit::config`), checked once at start-up.
//!
//! ```toml
//! [http]
//! listen = "127.0.0.1:8090"     # address to bind
//! operator_listen = "127.0.0.1:9091"   # /health/* and /metrics here only, not rate limited
//!                               # (default: none; they are public routes, limited like the rest)
//! workers = 2                   # HTTP worker threads (default: one per CPU)
//! shutdown_timeout = "10s"      # how long in-flight requests may take to finish on shutdown
//! request_timeout = "10s"       # the longest a request may take (answered 503 after)
//!
//! [database]
//! url = "postgres://tagtrail_trace_svc:...@127.0.0.1:5432/tagtrail"   # a primary or a replica
//! pool_size = 16
//! connect_timeout = "5s"
//! statement_timeout = "5s"      # the longest one statement may run
//!
//! [limits]
//! page_size = 100               # history events per page unless ?limit= says otherwise
//! max_page_size = 1000
//! max_history_events = 10000    # an item with a longer history is refused (ask narrower)
//! max_bundle_events = 1000      # the most events one provenance bundle carries
//! requests_per_second = 50      # per client address, sustained
//! burst = 200                   # per client address, at once
//! max_clients = 100000          # client addresses tracked by the rate limiter
//! rate_limited_delay = "1s"     # a 429 is answered this late (at most its Retry-After)
//! max_answer_bytes = 67108864   # event text one history or bundle may load (422 beyond)
//! max_inflight_bytes = 536870912   # event text every answer in flight may hold (503 beyond)
//! max_event_bytes = 1048576     # the largest event the ledger holds (ingest's limit)
//! max_answers_per_client = 4    # histories and bundles one client address may have loading at once
//! answer_bytes_per_second = 2097152   # event text one client's answers may load, sustained (429 beyond)
//!
//! [ledger]
//! checkpoint_refresh = "100ms"  # answers are as of a checkpoint at most this much older than the newest
//! lookup_filter_mib = 512       # memory for the Bloom filters of the lookup runs (0: none)
//! tile_cache_mib = 2048         # memory for tiles kept for monitors and proofs (128 MiB per million entries holds all)
//! checkpoint_keys = ["tagtrail.example/log+1a2b3c4d+AQ..."]   # the log's verifier keys, as `tagtrail keygen`
//!                               # prints them: the scan page re-checks the bundle with them (default: none, it says so)
//!
//! [audit]
//! interval = "1h"              # re-verify the whole log (as `tagtrail audit` does) this often; "0s": never
//!
//! [scans]                       # what consumers' scans write (default: nothing; NFC taps unchecked)
//! url = "postgres://tagtrail_scans_svc:...@primary:5432/tagtrail"   # a login role in tagtrail_scans, on the primary
//! nfc_keys = "/etc/tagtrail/nfc-keys.json"   # NTAG 424 DNA keys (`tagtrail nfc keygen`), outside the database
//! region_header = "CF-IPCountry"   # a header the edge sets to the client's country (default: none kept)
//! position_header = "X-Coarse-Position"   # "latitude,longitude" the edge sets; kept as a one-degree cell
//! edges = ["10.0.0.5"]          # the addresses the two headers are believed from (the edge's)
//! retention = "30d"             # scans are deleted once older
//! pool_size = 4
//!
//! [exports]
//! signing_key = "/etc/tagtrail/exports.key"   # signs each export's manifest (`tagtrail keygen`);
//!                               # default: none, exports carry no manifest
//!
//! [recalls]
//! capture_url = "http://127.0.0.1:8080"   # ingest, where POST /recalls captures a recall with the
//!                               # caller's own site token (default: none, POST /recalls answers 503)
//!
//! [access_log]                  # who looked at what (default: none, and then the credentialed
//!                               # routes answer 503: nothing across items is answered unrecorded)
//! url = "postgres://tagtrail_access_svc:...@primary:5432/tagtrail"   # a login role in tagtrail_access, on the primary
//! signing_key = "/etc/tagtrail/access.key"   # signs the access log's checkpoints (`tagtrail keygen
//!                               # --name <origin>`); its verifier key is what grantees and monitors trust
//! origin = "tagtrail.example/access"   # the access log's origin, in its checkpoints
//! checkpoint_interval = "1s"    # a checkpoint is signed this often when the access log has grown
//! pool_size = 4
//!
//! [subscriptions]               # webhook deliveries of named queries' new events
//! interval = "1s"               # how often due subscriptions are delivered
//! allowed_hosts = []            # when set, the only hosts deliveries go to (http or https); when
//!                               # empty, any host whose addresses are all public, over https only
//! max_per_token = 16            # subscriptions one credential keeps (and WebSocket streams it holds open)
//! max_streams = 256             # WebSocket streams (`GET /queries/{name}/events?stream=true`) open at once
//! events_per_delivery = 1000    # the most events one delivery carries
//! timeout = "10s"               # a receiver that has not answered by then has failed
//! workers = 4                   # deliveries under way at once in one process (a credential's
//!                               # one at a time: a slow receiver holds up only its own)
//! record_time_skew = "60s"      # how far apart in record time ingest may append two entries
//!                               # out of order: an initialRecordTime starts that much earlier
//! min_schedule_interval = "30s" # the least time between a scheduled subscription's rounds: a
//!                               # schedule naming times closer together is refused
//!
//! [grants]                      # signed access grants (`tagtrail grant issue`), held by a key
//! keys = ["grants.tagtrail.example+1a2b3c4d+AQ..."]   # the verifier keys grants are signed with
//!                               # (default: none, and then no request made with a grant is taken)
//! max_skew = "300s"             # how far a request signature's `created` may be from now
//! max_nonces = 100000           # signed requests remembered (per process) to refuse replays
//! max_nonces_per_grant = 10000  # of them, one grant's at most (429 beyond: one grantee's flood
//!                               # holds back only itself)
//!
//! [log]
//! format = "text"               # or "json"
//! filter = "info"
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use service_kit::config::{DATABASE_URL, Schema, duration};

pub use service_kit::config::{CommonFlags, ConfigError};
pub use service_kit::log::{LogConfig, LogFormat};

/// The prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "TAGTRAIL_TRACE_";

const SCHEMA: Schema = Schema {
    env_prefix: ENV_PREFIX,
    sections: &[
        service_kit::config::HTTP_SECTION,
        (
            "database",
            &["url", "pool_size", "connect_timeout", "statement_timeout"],
        ),
        (
            "limits",
            &[
                "page_size",
                "max_page_size",
                "max_history_events",
                "max_bundle_events",
                "requests_per_second",
                "burst",
                "max_clients",
                "rate_limited_delay",
                "max_answer_bytes",
                "max_inflight_bytes",
                "max_event_bytes",
                "max_answers_per_client",
                "answer_bytes_per_second",
            ],
        ),
        (
            "ledger",
            &[
                "checkpoint_refresh",
                "lookup_filter_mib",
                "tile_cache_mib",
                "checkpoint_keys",
            ],
        ),
        ("audit", &["interval"]),
        (
            "scans",
            &[
                "url",
                "nfc_keys",
                "region_header",
                "position_header",
                "edges",
                "retention",
                "pool_size",
            ],
        ),
        ("exports", &["signing_key"]),
        ("recalls", &["capture_url"]),
        (
            "access_log",
            &[
                "url",
                "signing_key",
                "origin",
                "checkpoint_interval",
                "pool_size",
            ],
        ),
        (
            "subscriptions",
            &[
                "interval",
                "allowed_hosts",
                "max_per_token",
                "max_streams",
                "events_per_delivery",
                "timeout",
                "workers",
                "record_time_skew",
                "min_schedule_interval",
            ],
        ),
        (
            "grants",
            &["keys", "max_skew", "max_nonces", "max_nonces_per_grant"],
        ),
        ("log", &["format", "filter"]),
    ],
    strict: false,
};

/// Every setting of the service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub ledger: LedgerConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub scans: ScansConfig,
    #[serde(default)]
    pub exports: ExportsConfig,
    #[serde(default)]
    pub recalls: RecallsConfig,
    #[serde(default)]
    pub access_log: AccessLogConfig,
    #[serde(default)]
    pub subscriptions: SubscriptionsConfig,
    #[serde(default)]
    pub grants: GrantsConfig,
    #[serde(default)]
    pub log: LogConfig,
}

/// `[grants]`: signed access grants (`ledger::grant`), held by a key; each request made with one
/// is signed by that key (`crate::routes::query::authenticate`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsConfig {
    /// The verifier keys grants are signed with (`tagtrail keygen` prints them). None: no request
    /// made with a grant is taken.
    #[serde(default)]
    pub keys: Vec<String>,
    /// How far a request signature's `created` may lie from this service's clock (default 300 s).
    #[serde(default = "default_grant_skew", deserialize_with = "duration")]
    pub max_skew: Duration,
    /// How many signed requests one process remembers (each for twice `max_skew`) to refuse a
    /// replay; beyond it, signed requests wait their turn (`503`) (default 100,000).
    #[serde(default = "default_grant_nonces")]
    pub max_nonces: usize,
    /// Of those, how many one grant may hold: beyond it, its signed requests wait (`429`), and
    /// the other grants' are taken (default 10,000).
    #[serde(default = "default_grant_nonces_per_grant")]
    pub max_nonces_per_grant: usize,
}

impl Default for GrantsConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            max_skew: default_grant_skew(),
            max_nonces: default_grant_nonces(),
            max_nonces_per_grant: default_grant_nonces_per_grant(),
        }
    }
}

fn default_grant_skew() -> Duration {
    Duration::from_secs(300)
}

fn default_grant_nonces() -> usize {
    100_000
}

fn default_grant_nonces_per_grant() -> usize {
    10_000
}

/// `[recalls]`: where `POST /recalls` captures the events that record a recall.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecallsConfig {
    /// The base URL of ingest (`http://127.0.0.1:8080`): a recall is captured there with the
    /// caller's own site token, so that it is the brand's word. None: `POST /recalls` answers
    /// `503`, this service writes nothing.
    pub capture_url: Option<String>,
}

/// `[access_log]`: where the access log is written and how its checkpoints are signed
/// (`crate::access_log`). Without `url`, the credentialed routes (the query interface, traces,
/// exports) answer `503`: nothing across items is answered unrecorded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// `postgres://user:password@host:port/database` of the primary (secret: it may hold a
    /// password): a login role in `tagtrail_access`, which may append to the access log and read
    /// it, and keep the tokens' named queries and subscriptions, nothing else.
    pub url: Option<SecretString>,
    /// The access log's checkpoint signing key file (`tagtrail keygen --name <origin>`, its
    /// private file). Required with `url`. Read once at start-up; zeroed when dropped, never
    /// logged.
    pub signing_key: Option<std::path::PathBuf>,
    /// The access log's origin, the first line of its checkpoints. Required with `url`.
    pub origin: Option<String>,
    /// How often a checkpoint is signed when the access log has grown (default 1 s).
    #[serde(
        default = "default_access_checkpoint_interval",
        deserialize_with = "duration"
    )]
    pub checkpoint_interval: Duration,
    /// The most connections open at once to the primary (default 4).
    pub pool_size: Option<usize>,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        Self {
            url: None,
            signing_key: None,
            origin: None,
            checkpoint_interval: default_access_checkpoint_interval(),
            pool_size: None,
        }
    }
}

fn default_access_checkpoint_interval() -> Duration {
    Duration::from_secs(1)
}

/// `[subscriptions]`: how named queries' new events are delivered to their subscribers
/// (`crate::subscriptions`). Deliveries need the access log (`[access_log]`): without it none
/// are made.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsConfig {
    /// How often due subscriptions are delivered (default 1 s).
    #[serde(
        default = "default_subscription_interval",
        deserialize_with = "duration"
    )]
    pub interval: Duration,
    /// When set, the only hosts a subscription may deliver to (by name or address, over http or
    /// https): for receivers inside the operator's own network. When empty (the default), any
    /// host whose addresses are all public, over https only.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// The most subscriptions one credential keeps, and the most WebSocket streams it holds open
    /// in one process (default 16).
    #[serde(default = "default_max_subscriptions")]
    pub max_per_token: u32,
    /// The most WebSocket streams one process holds open (default 256).
    #[serde(default = "default_max_streams")]
    pub max_streams: usize,
    /// The most events one delivery carries (default 1,000; more go in the next).
    #[serde(default = "default_events_per_delivery")]
    pub events_per_delivery: usize,
    /// How long a receiver has to answer (default 10 s).
    #[serde(default = "default_delivery_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// How many deliveries one process makes at once (default 4, at most 64), each taking a
    /// connection of the access log's role only to claim a subscription and to record what came
    /// of it. One credential's subscriptions are delivered one at a time across every process,
    /// so that receivers that are slow (or never answer) hold up only their own credential's
    /// deliveries.
    #[serde(default = "default_delivery_workers")]
    pub workers: usize,
    /// How much earlier than the record time of an entry appended before it a later entry's may
    /// be (default 60 s): ingest stamps each document as it accepts it, and documents accepted
    /// at once reach the log in either order. A subscription's `initialRecordTime` starts this
    /// much earlier, so that no entry recorded at or after it is left out.
    #[serde(default = "default_record_time_skew", deserialize_with = "duration")]
    pub record_time_skew: Duration,
    /// The least time between two rounds of a scheduled subscription (default 30 s, the
    /// binding's own example of `"second": "0/30"`): a
    /// schedule that names times closer together is refused, and a subscription is never fired
    /// sooner than this after its last round, so that no credential makes the service query,
    /// record in the access log and send once a second.
    #[serde(
        default = "default_min_schedule_interval",
        deserialize_with = "duration"
    )]
    pub min_schedule_interval: Duration,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        Self {
            interval: default_subscription_interval(),
            allowed_hosts: Vec::new(),
            max_per_token: default_max_subscriptions(),
            max_streams: default_max_streams(),
            events_per_delivery: default_events_per_delivery(),
            timeout: default_delivery_timeout(),
            workers: default_delivery_workers(),
            record_time_skew: default_record_time_skew(),
            min_schedule_interval: default_min_schedule_interval(),
        }
    }
}

fn default_subscription_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_max_subscriptions() -> u32 {
    16
}

fn default_max_streams() -> usize {
    256
}

fn default_events_per_delivery() -> usize {
    1000
}

fn default_delivery_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_delivery_workers() -> usize {
    4
}

fn default_record_time_skew() -> Duration {
    Duration::from_secs(60)
}

fn default_min_schedule_interval() -> Duration {
    Duration::from_secs(30)
}

/// `[exports]`: how `POST /exports` signs what it exports.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportsConfig {
    /// The export signing key file (`tagtrail keygen --name <service>/exports`, its private
    /// file): each export's manifest is signed with it, and regulators verify with its public
    /// key (`tagtrail verify --export-key`). Read once at start-up; the key is zeroed when
    /// dropped and never logged. None: exports carry no manifest.
    pub signing_key: Option<std::path::PathBuf>,
}

/// `[scans]`: what consumers' scans write, on the primary. Without it the service only reads
/// (and runs on a replica alone): scans are not kept, and a scan's NFC tap is not checked (its
/// verdict says so).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScansConfig {
    /// `postgres://user:password@host:port/database` of the primary (secret: it may hold a
    /// password): a login role in `tagtrail_scans`, which may read NFC tags and move their
    /// counters, nothing else.
    pub url: Option<SecretString>,
    /// The NFC key file (`tagtrail nfc keygen`): the NTAG 424 DNA keys taps are checked with.
    /// Read once at start-up; the keys are zeroed when dropped and never logged.
    pub nfc_keys: Option<std::path::PathBuf>,
    /// The header the edge (a CDN, a load balancer) sets to the client's region: an ISO 3166
    /// code (`NL`, `CN-SH`) is kept with the scan, anything else is not. None: no region is kept.
    pub region_header: Option<String>,
    /// The header the edge sets to the client's approximate position, `latitude,longitude` in
    /// degrees: kept only as the one-degree cell it falls in. None: no position is kept.
    pub position_header: Option<String>,
    /// The addresses of the edge: the two headers are believed only on requests from these (a
    /// client reaching the service another way could say anything). Required with either header.
    #[serde(default)]
    pub edges: Vec<std::net::IpAddr>,
    /// How long scans are kept (default 30 days).
    #[serde(default = "default_scan_retention", deserialize_with = "duration")]
    pub retention: Duration,
    /// The most connections open at once to the primary (default 4).
    pub pool_size: Option<usize>,
}

impl Default for ScansConfig {
    fn default() -> Self {
        Self {
            url: None,
            nfc_keys: None,
            region_header: None,
            position_header: None,
            edges: Vec::new(),
            retention: default_scan_retention(),
            pool_size: None,
        }
    }
}

fn default_scan_retention() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

/// `[audit]`: the periodic re-verification of the log the service serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// How long to wait after one full audit (the one `tagtrail audit` runs, without `--rpc`)
    /// before the next; the first runs at start-up. `0s` never audits. Its results are the
    /// `trace_audit_*` metrics.
    #[serde(default = "default_audit_interval", deserialize_with = "duration")]
    pub interval: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            interval: default_audit_interval(),
        }
    }
}

/// `[ledger]`: how the service follows the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// How long the newest checkpoint (and how far the lookups reach) is reused before it is read
    /// again: answers are as of a checkpoint at most this much older than the newest. `0ms` reads
    /// it for every request.
    #[serde(default = "default_checkpoint_refresh", deserialize_with = "duration")]
    pub checkpoint_refresh: Duration,
    /// How much memory (MiB) the Bloom filters of the lookup runs may take: with a filter, a
    /// lookup asks the database only about the runs that may hold its keys. About 1.25 bytes per
    /// indexed identifier; runs beyond the budget are asked about every time. `0` builds none.
    #[serde(default = "default_lookup_filter_mib")]
    pub lookup_filter_mib: usize,
    /// How much memory (MiB) the tiles kept in memory may take (16.5 KiB each, counting the
    /// inner hashes a proof adds): tiles never change, so every tile held is a tile request or a
    /// part of a proof that needs no query. The cache keeps at least the most recently used half of
    /// its budget, so holding every tile of the log takes twice their size: about 128 MiB per
    /// million entries. Memory is taken only as tiles are read.
    #[serde(default = "default_tile_cache_mib")]
    pub tile_cache_mib: usize,
    /// The log's checkpoint verifier keys (`<name>+<key id>+<base64 key>`, as `tagtrail keygen`
    /// prints them; several during a key rotation). The scan page hands them to the consumer's
    /// browser, which re-checks the item's bundle against them; without them the page says
    /// nothing was checked on the device. Public: they are what the log publishes.
    #[serde(default)]
    pub checkpoint_keys: Vec<String>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            checkpoint_refresh: default_checkpoint_refresh(),
            lookup_filter_mib: default_lookup_filter_mib(),
            tile_cache_mib: default_tile_cache_mib(),
            checkpoint_keys: Vec::new(),
        }
    }
}

/// `[http]`: 127.0.0.1:8090, 10 s to finish after a shutdown signal, 10 s per request.
pub type HttpConfig = service_kit::config::HttpConfig<8090, 10, 10>;

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/database` (secret: it may hold a password). A login
    /// role in `tagtrail_reader`, on the primary or on a streaming replica.
    pub url: SecretString,
    /// The most connections open at once.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// How long opening a connection or waiting for a free one may take.
    #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// The longest one statement may run (PostgreSQL's `statement_timeout`).
    #[serde(default = "default_statement_timeout", deserialize_with = "duration")]
    pub statement_timeout: Duration,
}

/// `[limits]`: what one request may ask for and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// History events per page when the request does not say.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// The most history events per page.
    #[serde(default = "default_max_page_size")]
    pub max_page_size: usize,
    /// The most events of one item's history (a longer one is refused).
    #[serde(default = "default_max_history_events")]
    pub max_history_events: usize,
    /// The most events one provenance bundle carries.
    #[serde(default = "default_max_bundle_events")]
    pub max_bundle_events: usize,
    /// Requests per second per client address, sustained.
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: u32,
    /// Requests per client address at once.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Client addresses the rate limiter tracks (the least recently seen are forgotten).
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// How long a request over its client's rate waits before its `429` (never longer than the
    /// `Retry-After` it is given): a client flooding on its connections gets about one answer
    /// per connection per delay, so its flood cannot keep the workers busy.
    #[serde(default = "default_rate_limited_delay", deserialize_with = "duration")]
    pub rate_limited_delay: Duration,
    /// The most bytes of event text one history or provenance bundle may load (`422` beyond).
    #[serde(default = "default_max_answer_bytes")]
    pub max_answer_bytes: usize,
    /// The most bytes of event text every answer in flight may load together (an answer waits
    /// for its share briefly, then is refused with `503`).
    #[serde(default = "default_max_inflight_bytes")]
    pub max_inflight_bytes: usize,
    /// The largest event the ledger holds, in bytes of its text (ingest's
    /// `limits.max_event_bytes`): before a batch of events is loaded, this much per event is
    /// reserved of `max_inflight_bytes`, so what answers hold never exceeds it. A larger event
    /// (stored under a larger limit) is counted as it is, once loaded.
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: usize,
    /// Histories and bundles one client (an IPv4 address, an IPv6 /64) may have loading at once;
    /// one more is answered `429` at once. A client's rate limit counts requests, not what they
    /// cost: this keeps one client's expensive answers from taking every worker.
    #[serde(default = "default_max_answers_per_client")]
    pub max_answers_per_client: usize,
    /// Bytes of event text one client's histories and bundles may load per second, sustained
    /// (`max_answer_bytes` at once): what an answer loaded is charged to its client when it is
    /// done, and a client in debt is answered `429` until its rate has paid it back. The request
    /// rate counts requests, not what they cost; this counts the cost.
    #[serde(default = "default_answer_bytes_per_second")]
    pub answer_bytes_per_second: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            page_size: default_page_size(),
            max_page_size: default_max_page_size(),
            max_history_events: default_max_history_events(),
            max_bundle_events: default_max_bundle_events(),
            requests_per_second: default_requests_per_second(),
            burst: default_burst(),
            max_clients: default_max_clients(),
            rate_limited_delay: default_rate_limited_delay(),
            max_answer_bytes: default_max_answer_bytes(),
            max_inflight_bytes: default_max_inflight_bytes(),
            max_event_bytes: default_max_event_bytes(),
            max_answers_per_client: default_max_answers_per_client(),
            answer_bytes_per_second: default_answer_bytes_per_second(),
        }
    }
}

fn default_max_answer_bytes() -> usize {
    64 * 1024 * 1024
}
fn default_max_inflight_bytes() -> usize {
    512 * 1024 * 1024
}
fn default_max_event_bytes() -> usize {
    1024 * 1024
}
fn default_max_answers_per_client() -> usize {
    4
}

fn default_answer_bytes_per_second() -> u64 {
    2 * 1024 * 1024
}

/// Settings given on the command line (`--database-url`, `--listen`, `--log-format`), which win
/// over the file and the environment.
pub type Overrides = CommonFlags;

impl Config {
    /// The keys grants are signed with (checked at start-up, so that this fails only on two keys
    /// of one name and id).
    pub fn grant_issuers(&self) -> Result<ledger::note::NoteVerifiers, String> {
        let keys = self
            .grants
            .keys
            .iter()
            .filter_map(|key| ledger::note::NoteVerifierKey::parse(key).ok())
            .collect();
        ledger::note::NoteVerifiers::new(keys).map_err(|error| error.to_string())
    }

    /// Loads the settings: the file at `path` if any, then the `TAGTRAIL_TRACE_*` variables of
    /// `environment`, then `overrides`; then checks them.
    pub fn load(
        path: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
        overrides: Overrides,
    ) -> Result<Self, ConfigError> {
        let flags = overrides.settings("http");
        let config: Config = SCHEMA.load(path, environment, flags, &[DATABASE_URL])?;
        config.check()?;
        Ok(config)
    }

    /// The settings of a test or an embedding program, built in code and checked.
    pub fn new(database_url: SecretString, listen: SocketAddr) -> Result<Self, ConfigError> {
        let config = Self {
            http: HttpConfig {
                listen,
                ..HttpConfig::default()
            },
            database: DatabaseConfig {
                url: database_url,
                pool_size: default_pool_size(),
                connect_timeout: default_connect_timeout(),
                statement_timeout: default_statement_timeout(),
            },
            limits: Limits::default(),
            ledger: LedgerConfig::default(),
            audit: AuditConfig::default(),
            scans: ScansConfig::default(),
            exports: ExportsConfig::default(),
            recalls: RecallsConfig::default(),
            access_log: AccessLogConfig::default(),
            subscriptions: SubscriptionsConfig::default(),
            grants: GrantsConfig::default(),
            log: LogConfig::default(),
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        self.http.check()?;
        if let Some(url) = &self.recalls.capture_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return invalid(
                "recalls.capture_url must be ingest's http:// or https:// base URL (http://127.0.0.1:8080)",
            );
        }
        if self.limits.max_event_bytes == 0
            || self.limits.max_inflight_bytes / 8 < self.limits.max_event_bytes
        {
            return invalid(
                "limits.max_event_bytes must be at least 1, and limits.max_inflight_bytes at least 8 times it (eight answers may each load an event of the largest size at once)",
            );
        }
        if self.limits.max_answer_bytes < 1024
            || self.limits.max_inflight_bytes < self.limits.max_answer_bytes
        {
            return invalid(
                "limits.max_answer_bytes must be at least 1024, and limits.max_inflight_bytes at least limits.max_answer_bytes",
            );
        }
        if self.limits.answer_bytes_per_second < 1024 {
            return invalid("limits.answer_bytes_per_second must be at least 1024");
        }
        if self.limits.max_answers_per_client == 0 {
            return invalid("limits.max_answers_per_client must be at least 1");
        }
        if self.database.statement_timeout.is_zero() {
            return invalid("database.statement_timeout must be above zero");
        }
        if self.database.pool_size == 0 {
            return invalid("database.pool_size must be at least 1");
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
        if self.scans.pool_size == Some(0) {
            return invalid("scans.pool_size must be at least 1");
        }
        if let Some(url) = &self.scans.url
            && url
                .expose_secret()
                .parse::<tokio_postgres::Config>()
                .is_err()
        {
            return invalid(
                "scans.url is not a PostgreSQL connection URL (postgres://user:password@host:port/database)",
            );
        }
        if self.scans.nfc_keys.is_some() && self.scans.url.is_none() {
            return invalid(
                "scans.nfc_keys needs scans.url: a tap is checked with the keys and its counter kept in the database",
            );
        }
        if (self.scans.region_header.is_some() || self.scans.position_header.is_some())
            && self.scans.edges.is_empty()
        {
            return invalid(
                "scans.region_header and scans.position_header need scans.edges: the addresses of the edge that sets them",
            );
        }
        let subscriptions = &self.subscriptions;
        if subscriptions.interval.is_zero() || subscriptions.timeout.is_zero() {
            return invalid(
                "subscriptions.interval and subscriptions.timeout must be more than 0s",
            );
        }
        if !(1..=64).contains(&subscriptions.workers) {
            return invalid("subscriptions.workers must be 1 to 64");
        }
        if subscriptions.min_schedule_interval < Duration::from_secs(1)
            || subscriptions.min_schedule_interval > Duration::from_secs(86_400)
        {
            return invalid("subscriptions.min_schedule_interval must be 1s to 24h");
        }
        if subscriptions.events_per_delivery == 0
            || subscriptions.max_per_token == 0
            || subscriptions.max_streams == 0
        {
            return invalid(
                "subscriptions.events_per_delivery, subscriptions.max_per_token and subscriptions.max_streams must be at least 1",
            );
        }
        let access = &self.access_log;
        if access.pool_size == Some(0) {
            return invalid("access_log.pool_size must be at least 1");
        }
        if access.checkpoint_interval.is_zero() {
            return invalid("access_log.checkpoint_interval must be more than 0s");
        }
        match &access.url {
            Some(url) => {
                if url
                    .expose_secret()
                    .parse::<tokio_postgres::Config>()
                    .is_err()
                {
                    return invalid(
                        "access_log.url is not a PostgreSQL connection URL (postgres://user:password@host:port/database)",
                    );
                }
                if access.signing_key.is_none() || access.origin.is_none() {
                    return invalid(
                        "access_log.url needs access_log.signing_key and access_log.origin: the access log's checkpoints are signed",
                    );
                }
                if let Some(origin) = &access.origin
                    && ledger::checkpoint::Origin::parse(origin).is_err()
                {
                    return invalid(&format!(
                        "access_log.origin {origin:?} is not a log origin (one line of printable text)"
                    ));
                }
            }
            None if access.signing_key.is_some() || access.origin.is_some() => {
                return invalid(
                    "access_log.signing_key and access_log.origin need access_log.url: where the access log is written",
                );
            }
            None => {}
        }
        for key in &self.grants.keys {
            if let Err(error) = ledger::note::NoteVerifierKey::parse(key) {
                return invalid(&format!(
                    "grants.keys: {key:?} is not a grant verifier key ({error}); \
                     expected `<name>+<key id>+<base64 key>` as `tagtrail keygen` prints it"
                ));
            }
        }
        if let Err(error) = self.grant_issuers() {
            return invalid(&format!("grants.keys: {error}"));
        }
        let grants = &self.grants;
        if grants.max_skew.is_zero()
            || grants.max_nonces_per_grant == 0
            || grants.max_nonces < grants.max_nonces_per_grant
        {
            return invalid(
                "grants.max_skew must be more than 0s, grants.max_nonces_per_grant at least 1 and grants.max_nonces at least grants.max_nonces_per_grant",
            );
        }
        for key in &self.ledger.checkpoint_keys {
            if let Err(error) = ledger::note::NoteVerifierKey::parse(key) {
                return invalid(&format!(
                    "ledger.checkpoint_keys: {key:?} is not a checkpoint verifier key ({error}); \
                     expected `<name>+<key id>+<base64 key>` as `tagtrail keygen` prints it"
                ));
            }
        }
        if self.scans.retention < Duration::from_secs(3600) {
            return invalid("scans.retention must be at least 1h");
        }
        let limits = &self.limits;
        if limits.page_size == 0 || limits.page_size > limits.max_page_size {
            return invalid("limits.page_size must be between 1 and limits.max_page_size");
        }
        if limits.max_history_events == 0 || limits.max_bundle_events == 0 {
            return invalid(
                "limits.max_history_events and limits.max_bundle_events must be at least 1",
            );
        }
        if limits.requests_per_second == 0 || limits.burst == 0 || limits.max_clients == 0 {
            return invalid(
                "limits.requests_per_second, limits.burst and limits.max_clients must be at least 1",
            );
        }
        Ok(())
    }
}

fn default_audit_interval() -> Duration {
    Duration::from_secs(3600)
}
fn default_lookup_filter_mib() -> usize {
    512
}
fn default_tile_cache_mib() -> usize {
    2048
}
fn default_checkpoint_refresh() -> Duration {
    Duration::from_millis(100)
}
fn default_pool_size() -> usize {
    16
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_statement_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_page_size() -> usize {
    100
}
fn default_max_page_size() -> usize {
    1000
}
fn default_max_history_events() -> usize {
    10_000
}
fn default_max_bundle_events() -> usize {
    1000
}
fn default_requests_per_second() -> u32 {
    50
}
fn default_burst() -> u32 {
    200
}
fn default_max_clients() -> usize {
    100_000
}
fn default_rate_limited_delay() -> Duration {
    Duration::from_secs(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    use service_kit::config::environment as env;

    fn url() -> Overrides {
        Overrides {
            database_url: Some(SecretString::from("postgres://u:p@127.0.0.1:5432/db")),
            ..Overrides::default()
        }
    }

    #[test]
    fn the_database_url_alone_is_enough() {
        let config = Config::load(None, env(&[]), url()).unwrap();
        assert_eq!(config.limits, Limits::default());
        let error = Config::load(None, env(&[]), Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("--database-url"), "{error}");
    }

    #[test]
    fn limits_come_from_the_environment_and_are_checked() {
        let config = Config::load(
            None,
            env(&[
                ("TAGTRAIL_TRACE_LIMITS_MAX_PAGE_SIZE", "50"),
                ("TAGTRAIL_TRACE_LIMITS_PAGE_SIZE", "10"),
            ]),
            url(),
        )
        .unwrap();
        assert_eq!(
            (config.limits.page_size, config.limits.max_page_size),
            (10, 50)
        );
        let error = Config::load(
            None,
            env(&[("TAGTRAIL_TRACE_LIMITS_PAGE_SIZE", "0")]),
            url(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("limits.page_size"), "{error}");
        let error =
            Config::load(None, env(&[("TAGTRAIL_TRACE_LIMITS_PAGESIZE", "1")]), url()).unwrap_err();
        assert!(
            error.to_string().contains("TAGTRAIL_TRACE_LIMITS_PAGESIZE"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_url_is_refused() {
        let overrides = Overrides {
            database_url: Some(SecretString::from("mysql://x")),
            ..Overrides::default()
        };
        let error = Config::load(None, env(&[]), overrides).unwrap_err();
        assert!(error.to_string().contains("database.url"), "{error}");
    }

    #[test]
    fn checkpoint_keys_are_read_from_the_environment_and_bad_ones_refused() {
        let name = ledger::note::KeyName::parse("trace.test/log").unwrap();
        let key = ledger::note::NoteSignerKey::from_seed(name, &[7; 32])
            .verifier_key()
            .to_string();
        let variable = format!("[\"{key}\"]");
        let config = Config::load(
            None,
            env(&[("TAGTRAIL_TRACE_LEDGER_CHECKPOINT_KEYS", &variable)]),
            url(),
        )
        .unwrap();
        assert_eq!(config.ledger.checkpoint_keys, [key]);
        let error = Config::load(
            None,
            env(&[(
                "TAGTRAIL_TRACE_LEDGER_CHECKPOINT_KEYS",
                "[\"tagtrail.example/log+00+AQ\"]",
            )]),
            url(),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("ledger.checkpoint_keys"), "{message}");
        assert!(message.contains("tagtrail keygen"), "{message}");
    }

    #[test]
    fn grant_keys_and_their_limits_are_read_and_checked() {
        let config = Config::load(None, env(&[]), url()).unwrap();
        assert!(
            config.grants.keys.is_empty(),
            "no grant is taken by default"
        );
        assert_eq!(config.grants.max_skew, Duration::from_secs(300));
        let name = ledger::note::KeyName::parse("grants.test").unwrap();
        let key = ledger::note::NoteSignerKey::from_seed(name, &[8; 32])
            .verifier_key()
            .to_string();
        let keys = format!("[\"{key}\"]");
        let config = Config::load(
            None,
            env(&[
                ("TAGTRAIL_TRACE_GRANTS_KEYS", &keys),
                ("TAGTRAIL_TRACE_GRANTS_MAX_SKEW", "60s"),
                ("TAGTRAIL_TRACE_GRANTS_MAX_NONCES", "10"),
                ("TAGTRAIL_TRACE_GRANTS_MAX_NONCES_PER_GRANT", "4"),
            ]),
            url(),
        )
        .unwrap();
        assert_eq!(config.grants.keys, std::slice::from_ref(&key));
        assert_eq!(config.grant_issuers().unwrap().keys().len(), 1);
        assert_eq!(
            (
                config.grants.max_skew,
                config.grants.max_nonces,
                config.grants.max_nonces_per_grant
            ),
            (Duration::from_secs(60), 10, 4)
        );
        let twice = format!("[\"{key}\", \"{key}\"]");
        for (variable, value, says) in [
            (
                "TAGTRAIL_TRACE_GRANTS_KEYS",
                "[\"grants.test+00+AQ\"]",
                "tagtrail keygen",
            ),
            ("TAGTRAIL_TRACE_GRANTS_KEYS", twice.as_str(), "grants.keys"),
            ("TAGTRAIL_TRACE_GRANTS_MAX_SKEW", "0s", "grants.max_skew"),
            ("TAGTRAIL_TRACE_GRANTS_MAX_NONCES", "0", "grants.max_nonces"),
            (
                "TAGTRAIL_TRACE_GRANTS_MAX_NONCES_PER_GRANT",
                "0",
                "grants.max_nonces_per_grant",
            ),
        ] {
            let message = Config::load(None, env(&[(variable, value)]), url())
                .unwrap_err()
                .to_string();
            assert!(message.contains(says), "{variable}={value}: {message}");
        }
    }

    #[test]
    fn the_sample_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("trace-api.example.toml");
        let config = Config::load(Some(&path), env(&[]), Overrides::default()).unwrap();
        assert_eq!(config.http.listen.port(), 8090);
        assert_eq!(config.audit, AuditConfig::default());
    }

    #[test]
    fn scans_are_optional_and_checked() {
        let config = Config::load(None, env(&[]), url()).unwrap();
        assert!(config.scans.url.is_none() && config.scans.nfc_keys.is_none());
        let config = Config::load(
            None,
            env(&[
                (
                    "TAGTRAIL_TRACE_SCANS_URL",
                    "postgres://s:p@127.0.0.1:5432/db",
                ),
                (
                    "TAGTRAIL_TRACE_SCANS_NFC_KEYS",
                    "/etc/tagtrail/nfc-keys.json",
                ),
            ]),
            url(),
        )
        .unwrap();
        assert_eq!(
            config.scans.nfc_keys.as_deref(),
            Some(Path::new("/etc/tagtrail/nfc-keys.json"))
        );
        for (settings, why) in [
            (
                vec![("TAGTRAIL_TRACE_SCANS_NFC_KEYS", "/k.json")],
                "needs scans.url",
            ),
            (
                vec![("TAGTRAIL_TRACE_SCANS_RETENTION", "10m")],
                "scans.retention",
            ),
            (
                vec![("TAGTRAIL_TRACE_SCANS_POSITION_HEADER", "X-Position")],
                "need scans.edges",
            ),
            (
                vec![
                    ("TAGTRAIL_TRACE_SCANS_URL", "mysql://x"),
                    ("TAGTRAIL_TRACE_SCANS_NFC_KEYS", "/k.json"),
                ],
                "scans.url",
            ),
            (
                vec![("TAGTRAIL_TRACE_SCANS_POOL_SIZE", "0")],
                "scans.pool_size",
            ),
        ] {
            let error = Config::load(None, env(&settings), url()).unwrap_err();
            assert!(error.to_string().contains(why), "{error}");
            assert!(!error.to_string().contains("s:p@"), "{error}");
        }
    }

    #[test]
    fn the_access_log_and_subscriptions_are_read_and_checked() {
        let config = Config::load(None, env(&[]), url()).unwrap();
        assert!(config.access_log.url.is_none());
        assert_eq!(config.subscriptions.max_per_token, 16);
        assert_eq!(
            config.subscriptions.record_time_skew,
            Duration::from_secs(60)
        );
        assert_eq!(
            config.subscriptions.min_schedule_interval,
            Duration::from_secs(30)
        );
        let skew = [
            ("TAGTRAIL_TRACE_SUBSCRIPTIONS_RECORD_TIME_SKEW", "5s"),
            ("TAGTRAIL_TRACE_SUBSCRIPTIONS_MIN_SCHEDULE_INTERVAL", "2m"),
        ];
        let config = Config::load(None, env(&skew), url()).unwrap();
        assert_eq!(
            config.subscriptions.record_time_skew,
            Duration::from_secs(5)
        );
        assert_eq!(
            config.subscriptions.min_schedule_interval,
            Duration::from_secs(120)
        );
        let access = [
            (
                "TAGTRAIL_TRACE_ACCESS_LOG_URL",
                "postgres://a:p@127.0.0.1:5432/db",
            ),
            ("TAGTRAIL_TRACE_ACCESS_LOG_SIGNING_KEY", "/etc/access.key"),
            ("TAGTRAIL_TRACE_ACCESS_LOG_ORIGIN", "example.com/access"),
            (
                "TAGTRAIL_TRACE_SUBSCRIPTIONS_ALLOWED_HOSTS",
                "[\"hooks.internal\"]",
            ),
        ];
        let config = Config::load(None, env(&access), url()).unwrap();
        assert_eq!(
            config.access_log.origin.as_deref(),
            Some("example.com/access")
        );
        assert_eq!(config.subscriptions.allowed_hosts, ["hooks.internal"]);
        for (settings, why) in [
            (
                vec![access[0]],
                "needs access_log.signing_key and access_log.origin",
            ),
            (vec![access[1], access[2]], "need access_log.url"),
            (
                vec![
                    ("TAGTRAIL_TRACE_ACCESS_LOG_URL", "mysql://x"),
                    access[1],
                    access[2],
                ],
                "access_log.url is not",
            ),
            (
                vec![
                    access[0],
                    access[1],
                    ("TAGTRAIL_TRACE_ACCESS_LOG_ORIGIN", "two\nlines"),
                ],
                "not a log origin",
            ),
            (
                vec![("TAGTRAIL_TRACE_ACCESS_LOG_CHECKPOINT_INTERVAL", "0s")],
                "access_log.checkpoint_interval",
            ),
            (
                vec![("TAGTRAIL_TRACE_SUBSCRIPTIONS_TIMEOUT", "0s")],
                "subscriptions.interval and subscriptions.timeout",
            ),
            (
                vec![("TAGTRAIL_TRACE_SUBSCRIPTIONS_EVENTS_PER_DELIVERY", "0")],
                "subscriptions.events_per_delivery",
            ),
            (
                vec![(
                    "TAGTRAIL_TRACE_SUBSCRIPTIONS_MIN_SCHEDULE_INTERVAL",
                    "500ms",
                )],
                "subscriptions.min_schedule_interval must be 1s to 24h",
            ),
            (
                vec![("TAGTRAIL_TRACE_SUBSCRIPTIONS_WORKERS", "0")],
                "subscriptions.workers must be 1 to 64",
            ),
        ] {
            let error = Config::load(None, env(&settings), url()).unwrap_err();
            assert!(error.to_string().contains(why), "{error}");
            assert!(!error.to_string().contains("a:p@"), "{error}");
        }
    }

    #[test]
    fn the_audit_interval_comes_from_the_environment() {
        let config = Config::load(None, env(&[]), url()).unwrap();
        assert_eq!(config.audit.interval, Duration::from_secs(3600));
        let config =
            Config::load(None, env(&[("TAGTRAIL_TRACE_AUDIT_INTERVAL", "0s")]), url()).unwrap();
        assert!(config.audit.interval.is_zero());
    }
}
