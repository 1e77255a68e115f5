//! [`Application`]: the HTTP server of one trace-api process. It reads the ledger as
//! `tagtrail_reader` (SELECT only, every connection read-only); what it writes, it writes with
//! roles of their own on the primary: consumers' scans (`[scans]`, `tagtrail_scans`) and the
//! access log (`[access_log]`, `tagtrail_access`).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use ledger_store::{PoolSettings, Reader};
use secrecy::ExposeSecret;
use service_kit::http::{HttpService, Serving};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, DatabaseConfig, Limits};
use crate::metrics::Metrics;
use service_kit::rate_limit::RateLimiter;

/// Device batches whose trees are kept built (a batch of 1,000 events takes about 64 KiB).
const BATCH_TREES: usize = 1024;
/// Refused answers remembered (a few hundred bytes each).
const REFUSED_ANSWERS: usize = 16_384;

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    pub(crate) store: Reader,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limiter: RateLimiter,
    pub(crate) request_timeout: Duration,
    /// The newest checkpoint, reused for `ledger.checkpoint_refresh`.
    pub(crate) views: crate::reader::ViewCache,
    /// Device batches with their trees, shared by every request.
    pub(crate) batches: crate::proofs::BatchTrees,
    /// Who reports for which organisation and owns which company prefixes (custody authority),
    /// read again when the registry changes.
    pub(crate) parties: registry::PartiesCache,
    /// The newest readiness answer, reused for a second.
    pub(crate) readiness: crate::routes::health::Readiness,
    /// The registry's connections (parties, devices' keys).
    pub(crate) registry: deadpool_postgres::Pool,
    /// The bytes of events answers may load, each and together.
    pub(crate) budget: crate::budget::Budget,
    /// Where large answers do the work that grows with their bytes.
    pub(crate) lane: crate::lane::Lane,
    /// Which listener serves which routes (the operator routes apart, when configured).
    pub(crate) routing: service_kit::listeners::Routing,
    /// The histories and bundles each client has loading (`limits.max_answers_per_client`).
    pub(crate) answers: Arc<service_kit::clients::ConnectionLimits>,
    /// Answers refused as too large, by what they asked and the checkpoint they were as of: asked
    /// again, they are refused without loading anything.
    pub(crate) refused_answers: crate::routes::RefusedAnswers,
    /// The questions being answered, one at a time each.
    pub(crate) answer_gates: crate::routes::AnswerGates,
    /// What consumers' scans write (`[scans]`: NFC tap counters, kept scans), when configured.
    pub(crate) scans: Option<crate::scans::Scans>,
    /// The log's checkpoint verifier keys (`ledger.checkpoint_keys`, in their text form), which
    /// the scan page's in-browser check trusts.
    pub(crate) checkpoint_keys: Arc<[String]>,
    /// The key that signs the query interface's page tokens (made at start-up).
    pub(crate) page_key: crate::routes::PageKey,
    /// The key that signs exports' manifests (`exports.signing_key`), when configured.
    pub(crate) export_signer: Option<Arc<ledger::note::NoteSignerKey>>,
    /// The access log every credentialed answer is recorded in (`[access_log]`), when
    /// configured: without it those routes answer `503`.
    pub(crate) access_log: Option<Arc<crate::access_log::AccessLog>>,
    /// How named queries' subscriptions are delivered (`[subscriptions]`).
    pub(crate) subscriptions: crate::config::SubscriptionsConfig,
    /// The WebSocket subscriptions open (`subscriptions.max_per_token` and `.max_streams`).
    pub(crate) streams: Arc<crate::routes::streams::Streams>,
    /// Signed access grants: their issuers' keys and the nonces of requests taken (`[grants]`).
    pub(crate) grants: crate::grants::Grants,
    /// Where `POST /recalls` captures (`recalls.capture_url`), when configured.
    pub(crate) recall_capture_url: Option<String>,
    /// The decoys `GET /sealed/{commitment}/{recipient}` answers for a recipient a value is not
    /// sealed to, read from the database once, when first needed.
    pub(crate) decoys: tokio::sync::OnceCell<ledger::sealed::Decoys>,
}

/// A built, listening trace-api service.
pub struct Application {
    serving: Serving,
    /// Stops the background audit and the subscription workers when the server stops.
    audit: CancellationToken,
    /// The subscription workers, waited for once stopped (each gives back what it holds).
    deliveries: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("serving", &self.serving)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the connection pool (lazily: the database may come up later) and binds the listener
    /// (port 0 picks a free port). Must run inside a tokio runtime.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = build_store(&config.database)?
            .with_lookup_filter_bytes(config.ledger.lookup_filter_mib.saturating_mul(1 << 20))
            .with_tile_cache_bytes(config.ledger.tile_cache_mib.saturating_mul(1 << 20));
        let listeners = service_kit::listeners::Listeners::bind(
            config.http.listen,
            config.http.operator_listen,
        )?;
        let routing = listeners.routing;
        let port = routing.public.port();
        let limits = config.limits;
        let metrics = Arc::new(Metrics::new());
        // The audit's own pool (lazily connected), started once the server runs.
        let audit_store = (!config.audit.interval.is_zero())
            .then(|| crate::audit::build_store(&config.database))
            .transpose()?;
        let audit_metrics = metrics.clone();
        // The background work (the audit, the scans' writer) stops with the server.
        let audit = CancellationToken::new();
        let scans = crate::scans::Scans::start(
            &config.scans,
            &config.database,
            metrics.clone(),
            audit.clone(),
        )?;
        let access_log = crate::access_log::AccessLog::start(
            &config.access_log,
            &config.database,
            config.subscriptions.workers,
            metrics.clone(),
            audit.clone(),
        )?;
        let registry = build_registry_pool(&config.database)?;
        let checkpoint_keys = config
            .ledger
            .checkpoint_keys
            .iter()
            .map(|key| {
                ledger::note::NoteVerifierKey::parse(key)
                    .map(|key| key.to_string())
                    .with_context(|| format!("ledger.checkpoint_keys: {key:?}"))
            })
            .collect::<anyhow::Result<Vec<String>>>()?
            .into();
        let export_signer = config
            .exports
            .signing_key
            .as_deref()
            .map(|path| read_signing_key(path, "exports.signing_key"))
            .transpose()?
            .map(Arc::new);
        let grants = crate::grants::Grants::new(
            config
                .grant_issuers()
                .map_err(|error| anyhow::anyhow!("grants.keys: {error}"))?,
            config.grants.max_skew,
            config.grants.max_nonces,
            config.grants.max_nonces_per_grant,
        );
        let streams = crate::routes::streams::Streams::new(
            usize::try_from(config.subscriptions.max_per_token).unwrap_or(usize::MAX),
            config.subscriptions.max_streams,
        );
        let state = web::Data::new(AppState {
            export_signer,
            access_log,
            grants,
            streams,
            subscriptions: config.subscriptions.clone(),
            recall_capture_url: config.recalls.capture_url.clone(),
            decoys: tokio::sync::OnceCell::new(),
            store,
            registry,
            checkpoint_keys,
            page_key: crate::routes::PageKey::generate()?,
            limits,
            metrics,
            limiter: RateLimiter::new(limits.requests_per_second, limits.burst, limits.max_clients)
                .with_refusal_delay(limits.rate_limited_delay),
            // Always set: trace-api's `[http]` has a default request time limit.
            request_timeout: config.http.request_timeout.unwrap_or(Duration::MAX),
            views: crate::reader::ViewCache::new(config.ledger.checkpoint_refresh),
            batches: crate::proofs::BatchTrees::new(BATCH_TREES),
            parties: registry::PartiesCache::new(config.ledger.checkpoint_refresh),
            readiness: crate::routes::health::Readiness::new(
                crate::routes::health::READINESS_REUSE,
            ),
            budget: crate::budget::Budget::new(
                config.limits.max_answer_bytes,
                config.limits.max_inflight_bytes,
                config
                    .limits
                    .max_event_bytes
                    .saturating_add(crate::reader::RECORD_BYTES),
            )
            .charged_per_client(
                config.limits.answer_bytes_per_second,
                config.limits.max_clients,
            ),
            // As many threads as cores: at a lower priority, they use what the workers leave.
            // What waits on the lane is bounded as answers in flight are (a request that timed
            // out gave its share back while its job waits).
            lane: crate::lane::Lane::start(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
                config.limits.max_inflight_bytes,
            )
            .context("Failed to start the slow lane's threads")?,
            routing,
            answers: service_kit::clients::ConnectionLimits::new(
                config.limits.max_answers_per_client,
            ),
            refused_answers: crate::routes::RefusedAnswers::new(REFUSED_ANSWERS),
            answer_gates: crate::routes::AnswerGates::default(),
            scans,
        });
        // Subscriptions are delivered while the server runs (with the access log only).
        let deliveries = if state.access_log.is_some() {
            crate::routes::spawn_subscriptions(state.clone(), audit.clone())
        } else {
            Vec::new()
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    crate::problem::Problem::BadRequest(error.to_string()).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    crate::problem::Problem::BadRequest(format!("bad query: {error}")).into()
                }))
                .wrap(from_fn(crate::routes::around))
                // Outermost: a Digital Link with a trailing slash is the link without it.
                .wrap(from_fn(crate::routes::trailing_slash))
                .configure(crate::routes::configure)
        })
        // At most 256 connections being set up at once per worker.
        .max_connection_rate(256);
        // One client holds at most so many connections (`routes::around` refuses the rest).
        let serving = service_kit::http::start(server, listeners, &config.http)
            .context("Failed to start the HTTP server")?;
        if let Some(store) = audit_store {
            crate::audit::spawn(store, config.audit.interval, audit_metrics, audit.clone());
        }
        let operator_port = routing.operator.map(|address| address.port());
        tracing::info!(port, operator_port, "trace-api listening");
        Ok(Self {
            serving,
            audit,
            deliveries,
        })
    }
}

impl HttpService for Application {
    fn serving(&self) -> &Serving {
        &self.serving
    }

    /// Serves until the server stops; the background audit stops with it.
    async fn run_until_stopped(self) -> anyhow::Result<()> {
        // The audit stops with the server, however the server ends.
        let stop_audit = self.audit.drop_guard();
        let served = self
            .serving
            .finish()
            .await
            .context("The HTTP server failed");
        // The subscription workers give back the subscriptions they hold before the process
        // ends, so that another process goes on with them at once.
        drop(stop_audit);
        for worker in self.deliveries {
            let _ = worker.await;
        }
        tracing::info!("trace-api stopped");
        served
    }
}

/// The store on the configured database, as a reader (read-only sessions), with a statement
/// timeout.
fn build_store(database: &DatabaseConfig) -> anyhow::Result<Reader> {
    // The reader's session settings: read-only transactions, cached generic plans.
    Reader::build(
        session_config(database)?,
        PoolSettings {
            max_size: database.pool_size,
            timeout: Some(database.connect_timeout),
            connect: None,
        },
    )
    .context("Failed to set up the database pool")
}

/// How many connections the registry's pool opens at most: its reads (parties, devices' keys)
/// are a few small queries an answer, mostly answered from caches.
const REGISTRY_POOL_SIZE: usize = 4;

/// The pool for the registry's tables (the ledger store's pool is that crate's alone): read-only
/// sessions with the statement timeout, opened lazily.
fn build_registry_pool(database: &DatabaseConfig) -> anyhow::Result<deadpool_postgres::Pool> {
    let mut pg_config = session_config(database)?;
    ledger_store::reader_session_settings(&mut pg_config);
    lazy_pool(
        pg_config,
        REGISTRY_POOL_SIZE.min(database.pool_size).max(1),
        database,
    )
    .context("Failed to set up the registry's database pool")
}

/// A pool of at most `size` connections with `pg_config`, opened as they are needed, waiting
/// at most `[database] connect_timeout` for one.
pub(crate) fn lazy_pool(
    pg_config: tokio_postgres::Config,
    size: usize,
    database: &DatabaseConfig,
) -> Result<deadpool_postgres::Pool, deadpool_postgres::BuildError> {
    let manager = deadpool_postgres::Manager::from_config(
        pg_config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(database.connect_timeout))
        .wait_timeout(Some(database.connect_timeout))
        .build()
}

/// The configured database's connection settings with the statement timeout and this
/// service's application name.
fn session_config(database: &DatabaseConfig) -> anyhow::Result<tokio_postgres::Config> {
    session_config_of(&database.url, database, "tagtrail-trace-api")
        .context("database.url is not a PostgreSQL connection URL")
}

/// The connection settings of `url` with `[database] statement_timeout` and the application
/// name `name`.
pub(crate) fn session_config_of(
    url: &secrecy::SecretString,
    database: &DatabaseConfig,
    name: &str,
) -> Result<tokio_postgres::Config, tokio_postgres::Error> {
    let mut pg_config = tokio_postgres::Config::from_str(url.expose_secret())?;
    let millis = database.statement_timeout.as_millis();
    let options = format!(
        "{} -c statement_timeout={millis}",
        pg_config.get_options().unwrap_or_default()
    );
    pg_config.options(options.trim());
    pg_config.application_name(name);
    Ok(pg_config)
}

/// Reads a signing key file (`setting` names where it is configured: `exports.signing_key`,
/// `access_log.signing_key`); its text is a secret, zeroed once read, and named in no error.
pub(crate) fn read_signing_key(
    path: &std::path::Path,
    setting: &str,
) -> anyhow::Result<ledger::note::NoteSignerKey> {
    use secrecy::ExposeSecret as _;
    let text = secrecy::SecretString::from(std::fs::read_to_string(path).with_context(|| {
        format!(
            "Failed to read the signing key {} ({setting})",
            path.display()
        )
    })?);
    ledger::note::NoteSignerKey::parse(text.expose_secret().trim()).with_context(|| {
        format!(
            "{} ({setting}) is not a signing key (PRIVATE+KEY+...): make one with tagtrail keygen",
            path.display()
        )
    })
}
