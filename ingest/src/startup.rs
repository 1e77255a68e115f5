//! [`Application`]: the HTTP server and the ledger's background tasks of one ingest process.
//!
//! Besides the HTTP workers, a process runs the ledger's sequencer (one task that commits the
//! captures of all workers together, in group commits), the checkpoint signer and the lookup
//! indexer. Several processes may share one database: the sequencer, the signer and the indexer
//! take PostgreSQL advisory locks.
//!
//! The signer keeps the newest checkpoint the log published in a file outside the database
//! (`ledger.published_checkpoint_file`), and refuses to sign while the database does not hold
//! that checkpoint's tree (an older backup restored); the process then refuses captures too, and
//! is not ready ([`ledger_store::SigningGate`]).
//!
//! The signer signs every checkpoint with the primary checkpoint key and, during a key rotation,
//! with the additional keys after it (`ledger.additional_checkpoint_key_files`; docs/OPERATIONS.md,
//! "Checkpoint key rotation").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use ledger::checkpoint::{Checkpoint, Origin, TrustedLog};
use ledger::note::{Note, NoteSignerKey, NoteVerifiers};
use ledger_store::{
    CheckpointStoreError, Checkpointer, CheckpointerHandle, Indexer, IndexerHandle, PoolSettings,
    PublishedFile, Sequencer, SigningGate, StoredCheckpoint, Writer,
};
use secrecy::{ExposeSecret, SecretString};
use service_kit::http::{HttpService, Serving};

use crate::config::{Config, DatabaseConfig, LedgerConfig, Limits, default_published_file};
use crate::jobs::JobWriter;
use crate::metrics::Metrics;
use registry::AllowedCache;

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The ledger store (with a pool of its own).
    pub(crate) store: Writer,
    /// The pool of the request path's own statements (registry reads, capture jobs).
    pub(crate) pool: Pool,
    pub(crate) sequencer: Sequencer,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    /// Answers of recent location checks, reused within one registry generation.
    pub(crate) allowed: AllowedCache,
    /// Who owns which company prefixes (only commissioning captures read it), read again when
    /// the registry changes.
    pub(crate) parties: registry::PartiesCache,
    /// Records capture jobs, several per statement.
    pub(crate) jobs: JobWriter,
    /// Whether the checkpoint signer signs: captures are refused while it does not (the database
    /// contradicts the newest published checkpoint, or was not compared with it yet).
    pub(crate) signing: SigningGate,
    /// The signer, for a capture to compare the database with the published checkpoint when no
    /// comparison holds (after a lost connection) rather than wait for the signer's next tick;
    /// one comparison at a time.
    pub(crate) checkpointer: Checkpointer,
    pub(crate) comparing: tokio::sync::Mutex<()>,
    /// Requests per client address (`limits.requests_per_second`, `limits.burst`).
    pub(crate) limiter: service_kit::rate_limit::RateLimiter,
    /// Which listener serves which routes (the operator routes apart, when configured).
    pub(crate) routing: service_kit::listeners::Routing,
    /// The newest readiness answer, reused for a second.
    pub(crate) readiness: crate::routes::health::Readiness,
    /// Seals capture jobs and checks them when they are read back.
    pub(crate) sealer: Arc<crate::jobs::JobSealer>,
    /// The jobs not served because their records do not verify.
    pub(crate) refused_jobs: crate::jobs::RefusedJobs,
}

impl AppState {
    /// A capture job is not served for `reason`: logged (once), counted, named by readiness.
    pub(crate) fn refused_job(&self, id: &str, reason: &crate::jobs::SealError) {
        self.metrics.capture_job_refused();
        self.refused_jobs.record(id, reason);
    }
}

/// A built, listening ingest service.
pub struct Application {
    serving: Serving,
    sequencer: Sequencer,
    checkpointer: CheckpointerHandle,
    indexer: IndexerHandle,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("serving", &self.serving)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Reads the checkpoint keys and the published-checkpoint file, opens the connection pool
    /// (lazily: the database may come up later), compares the database with the file if it
    /// answers, starts the sequencer, checkpoint signer and indexer, and binds the listener (port
    /// 0 picks a free port). Must run inside a tokio runtime.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let signers = read_signers(&config.ledger)?;
        let primary = signers[0].name().as_str().to_owned();
        let origin_name = config.ledger.origin.clone().unwrap_or(primary);
        let origin = Origin::parse(&origin_name)
            .with_context(|| format!("Invalid ledger.origin {origin_name:?}"))?;
        let store = build_store(&config.database)?;
        let pool = build_request_pool(&config.database)?;
        let published = config.ledger.published_checkpoint_file();
        carry_over_published_file(&config.ledger, &published, &origin)?;
        tracing::info!(
            origin = %origin,
            primary = %signers[0].verifier_key(),
            additional = ?signers[1..].iter().map(|key| key.verifier_key().to_string()).collect::<Vec<_>>(),
            "signing checkpoints with these keys, in this order"
        );
        record_newest_anchor(&config.ledger, &published, &origin, &signers).await?;
        let signers: Vec<Arc<NoteSignerKey>> = signers.into_iter().map(Arc::new).collect();
        let sealer = Arc::new(crate::jobs::JobSealer::new(&signers));
        let checkpointer = Checkpointer::with_signers(&store, origin, signers)
            .context("Invalid checkpoint keys")?
            .with_interval(config.ledger.checkpoint_interval)
            .with_index_wait(config.ledger.checkpoint_index_wait)
            .with_idle_resign(config.ledger.resign_idle_checkpoint)
            .with_published_file(published.clone())
            .await
            .with_context(|| {
                format!(
                    "Failed to read the published-checkpoint file {} (ledger.published_checkpoint_file)",
                    published.display()
                )
            })?;
        let signing = checkpointer.gate();
        check_published(&checkpointer, config.database.connect_timeout).await?;
        let sequencer = Sequencer::start(&store);
        let comparer = checkpointer.clone();
        let checkpointer = checkpointer.spawn();
        let indexer = Indexer::new(&store).spawn();

        let listeners = service_kit::listeners::Listeners::bind(
            config.http.listen,
            config.http.operator_listen,
        )?;
        let routing = listeners.routing;
        let port = routing.public.port();
        let jobs = JobWriter::start(pool.clone(), sealer.clone());
        let state = web::Data::new(AppState {
            store: store.clone(),
            pool,
            sequencer: sequencer.clone(),
            limits: config.limits,
            metrics: Arc::new(Metrics::new()),
            allowed: AllowedCache::default(),
            parties: registry::PartiesCache::new(std::time::Duration::from_secs(1)),
            jobs,
            signing,
            checkpointer: comparer,
            comparing: tokio::sync::Mutex::new(()),
            limiter: service_kit::rate_limit::RateLimiter::new(
                config.limits.requests_per_second,
                config.limits.burst,
                config.limits.max_clients,
            )
            .with_refusal_delay(config.limits.rate_limited_delay),
            routing,
            readiness: crate::routes::health::Readiness::new(
                crate::routes::health::READINESS_REUSE,
            ),
            sealer,
            refused_jobs: crate::jobs::RefusedJobs::default(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(crate::routes::admit))
                // Clients must take every answer as the type it says, never guess from its bytes.
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff")),
                )
                .configure(crate::routes::configure)
        });
        // One client holds at most so many connections (`routes::admit` refuses the rest).
        let serving = service_kit::http::start(server, listeners, &config.http)
            .context("Failed to start the HTTP server")?;
        let operator_port = routing.operator.map(|address| address.port());
        tracing::info!(port, operator_port, "ingest listening");
        Ok(Self {
            serving,
            sequencer,
            checkpointer,
            indexer,
        })
    }
}

impl HttpService for Application {
    fn serving(&self) -> &Serving {
        &self.serving
    }

    /// Serves until the server stops, then lets the sequencer finish what it was given, signs a
    /// last checkpoint and stops the indexer.
    async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self
            .serving
            .finish()
            .await
            .context("The HTTP server failed");
        tracing::info!("HTTP server stopped; flushing the ledger");
        self.sequencer.shutdown().await;
        self.checkpointer.shutdown().await;
        self.indexer.shutdown().await;
        tracing::info!("ingest stopped");
        served
    }
}

/// Compares the database with the published-checkpoint file before captures are accepted. A
/// refusal is not a start-up failure: the process runs, refuses captures, answers `/health/ready`
/// with the reason and exports it, and the signer compares again at every tick, so that it resumes
/// by itself once the database holds the published tree again (a point-in-time recovery).
/// A database that does not answer yet leaves the comparison to the signer's first tick.
async fn check_published(
    checkpointer: &Checkpointer,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    match tokio::time::timeout(timeout, checkpointer.check()).await {
        // Logged by the signer, with the sizes, the roots and the file.
        Ok(Ok(())) | Ok(Err(CheckpointStoreError::Refused(_))) => Ok(()),
        Ok(Err(CheckpointStoreError::Published(error))) => Err(anyhow::Error::new(error).context(
            "Failed to record the database's newest checkpoint in the published-checkpoint file",
        )),
        Ok(Err(error)) => {
            tracing::warn!(
                error = %crate::error::ErrorChain(&error),
                "could not compare the database with the published checkpoint at start-up; captures wait until the signer has"
            );
            Ok(())
        }
        Err(_) => {
            tracing::warn!(
                "the database did not answer at start-up; captures wait until the signer has compared it with the published checkpoint"
            );
            Ok(())
        }
    }
}

/// Reads the checkpoint signing keys (`tagtrail keygen`'s private keys): the primary key, then the
/// additional ones, in order. Each must be another key (a key id of its own), with the primary
/// key's name: the log's origin by default, which must stay when the keys swap roles (and
/// verifiers take the origin from the keys' name when they all have one).
fn read_signers(ledger: &LedgerConfig) -> anyhow::Result<Vec<NoteSignerKey>> {
    const ADDITIONAL: &str = "ledger.additional_checkpoint_key_files";
    let primary_file = &ledger.checkpoint_key_file;
    let mut signers = vec![read_signer(
        primary_file,
        "the checkpoint key",
        "ledger.checkpoint_key_file",
    )?];
    let mut files = vec![primary_file];
    for path in &ledger.additional_checkpoint_key_files {
        let key = read_signer(path, "the additional checkpoint key", ADDITIONAL)?;
        if let Some(i) = signers.iter().position(|signer| signer.id() == key.id()) {
            let what = if signers[i].verifier_key() == key.verifier_key() {
                "the same key"
            } else {
                "a key with the same key id"
            };
            anyhow::bail!(
                "{ADDITIONAL}: {} holds {what} as {} ({}): each checkpoint key is configured once",
                path.display(),
                files[i].display(),
                signers[i].verifier_key()
            );
        }
        let name = signers[0].name();
        if key.name() != name {
            anyhow::bail!(
                "{ADDITIONAL}: the key in {} is named {}, and the primary checkpoint key in {} is named {name}: a log's checkpoint keys all have one name, its origin, so that the origin stays when the keys swap roles and verifiers can trust them together; make the new key with `tagtrail keygen --name {name}`",
                path.display(),
                key.name(),
                primary_file.display()
            );
        }
        signers.push(key);
        files.push(path);
    }
    Ok(signers)
}

/// Reads one checkpoint signing key file; `what` and `setting` name it in errors.
fn read_signer(path: &Path, what: &str, setting: &str) -> anyhow::Result<NoteSignerKey> {
    let text = SecretString::from(
        std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read {what} {} ({setting})", path.display()))?,
    );
    NoteSignerKey::parse(text.expose_secret().trim()).with_context(|| {
        format!(
            "{} ({setting}) is not a checkpoint signing key (PRIVATE+KEY+...)",
            path.display()
        )
    })
}

/// Carries the published-checkpoint file over to the primary key when the keys swapped roles (a key
/// rotation made the new key the primary and the old one additional). By default the file is next
/// to the primary key (`<key file>.published`): the new primary key has none yet, while the old
/// one's holds the newest checkpoint published. Without this, the file would be made again from
/// the database, and a database restored from an older backup meanwhile would go unnoticed.
///
/// Only when `ledger.published_checkpoint_file` is not set (a set path does not move) and the
/// primary key's file is missing: the newest of the additional keys' files is copied there
/// (durably), and then read and verified by the checkpointer like any other.
fn carry_over_published_file(
    ledger: &LedgerConfig,
    published: &Path,
    origin: &Origin,
) -> anyhow::Result<()> {
    let missing = || {
        published
            .try_exists()
            .map(|exists| !exists)
            .with_context(|| {
                format!(
                    "Failed to look for the published-checkpoint file {}",
                    published.display()
                )
            })
    };
    if ledger.published_checkpoint_file.is_some() || !missing()? {
        return Ok(());
    }
    let mut newest: Option<(PathBuf, StoredCheckpoint)> = None;
    for key in &ledger.additional_checkpoint_key_files {
        let candidate = default_published_file(key);
        let note = match std::fs::read_to_string(&candidate) {
            Ok(note) => note,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(error).with_context(|| {
                    format!(
                        "Failed to read the published-checkpoint file {} of the additional checkpoint key {}",
                        candidate.display(),
                        key.display()
                    )
                });
            }
        };
        let checkpoint = Note::parse(&note)
            .ok()
            .and_then(|parsed| Checkpoint::from_text(parsed.text()).ok())
            .with_context(|| {
                format!(
                    "The published-checkpoint file {} (of the additional checkpoint key {}) is not a signed checkpoint; see {}",
                    candidate.display(),
                    key.display(),
                    ledger_store::REFUSAL_RUNBOOK
                )
            })?;
        if newest
            .as_ref()
            .is_none_or(|(_, found)| checkpoint.size() > found.size)
        {
            let stored = StoredCheckpoint {
                size: checkpoint.size(),
                root: *checkpoint.root(),
                note,
            };
            newest = Some((candidate, stored));
        }
    }
    let Some((from, checkpoint)) = newest else {
        return Ok(());
    };
    // Only written here: the checkpointer reads it back and verifies it with the log's keys.
    let log = TrustedLog::new(origin.clone(), NoteVerifiers::default());
    PublishedFile::new(published, log)
        .write(&checkpoint)
        .context("Failed to carry the published-checkpoint file over to the primary key")?;
    tracing::info!(
        from = %from.display(),
        to = %published.display(),
        published_size = checkpoint.size.get(),
        "the primary checkpoint key changed: carried the published-checkpoint file over from the additional key's"
    );
    Ok(())
}

/// Opens database connections on one runtime (the one the pool was built on), whichever task asks
/// for them: the HTTP workers each run a runtime of their own, and a connection opened by one would
/// be driven by that worker's thread, stalling whenever it parses a large document (the sequencer
/// takes its connection from the same pool).
struct ConnectOnRuntime {
    runtime: tokio::runtime::Handle,
}

impl deadpool_postgres::Connect for ConnectOnRuntime {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<
                        (tokio_postgres::Client, tokio::task::JoinHandle<()>),
                        tokio_postgres::Error,
                    >,
                > + Send
                + '_,
        >,
    > {
        let pg_config = pg_config.clone();
        let runtime = self.runtime.clone();
        Box::pin(async move {
            let (sender, receiver) = tokio::sync::oneshot::channel();
            let config = pg_config.clone();
            let task = runtime.spawn(async move {
                match config.connect(tokio_postgres::NoTls).await {
                    Ok((client, connection)) => {
                        if sender.send(Ok(client)).is_ok() {
                            // Errors of the connection surface on the client's calls.
                            let _ = connection.await;
                        }
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error));
                    }
                }
            });
            match receiver.await {
                Ok(Ok(client)) => Ok((client, task)),
                Ok(Err(error)) => Err(error),
                // The runtime is shutting down: connect here instead, so that the caller gets a
                // real answer.
                Err(_) => {
                    let (client, connection) = pg_config.connect(tokio_postgres::NoTls).await?;
                    Ok((
                        client,
                        tokio::spawn(async move {
                            let _ = connection.await;
                        }),
                    ))
                }
            }
        })
    }
}

/// The connection settings both pools share: the URL, a connect timeout and the application name.
fn connection_config(config: &DatabaseConfig) -> anyhow::Result<tokio_postgres::Config> {
    let mut pg: tokio_postgres::Config = config
        .url
        .expose_secret()
        .parse()
        .context("database.url is not a PostgreSQL connection URL")?;
    pg.connect_timeout(config.connect_timeout);
    pg.application_name("tagtrail-ingest");
    Ok(pg)
}

/// The ledger store, on a pool of its own sized by what it holds
/// ([`ledger_store::STORE_CONNECTIONS`]) and opened with its session settings, with time limits on
/// connecting and waiting so that requests fail fast (503) when the database is away.
/// Connections are opened on demand, on the current runtime.
pub fn build_store(config: &DatabaseConfig) -> anyhow::Result<Writer> {
    let settings = PoolSettings {
        max_size: ledger_store::STORE_CONNECTIONS,
        timeout: Some(config.connect_timeout),
        connect: Some(Box::new(ConnectOnRuntime {
            runtime: tokio::runtime::Handle::current(),
        })),
    };
    Writer::build(connection_config(config)?, settings)
        .context("Failed to build the ledger store's connection pool")
}

/// The pool of the request path's own statements (registry reads, capture jobs):
/// `database.pool_size` connections, with the same time limits, without the store's session
/// settings (its statements gain nothing from being planned at every execution, which cost about
/// 2 µs of machine CPU per captured event; BENCHMARKS.md).
fn build_request_pool(config: &DatabaseConfig) -> anyhow::Result<Pool> {
    let manager = Manager::from_connect(
        connection_config(config)?,
        ConnectOnRuntime {
            runtime: tokio::runtime::Handle::current(),
        },
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.pool_size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(config.connect_timeout))
        .wait_timeout(Some(config.connect_timeout))
        .recycle_timeout(Some(config.connect_timeout))
        .build()
        .context("Failed to build the database connection pool")
}

/// With `ledger.anchor_rpc_url`: the newest anchor of the log on that chain, signed by one of its
/// keys, recorded in the published-checkpoint file when it is newer than what the file holds
/// (the file may have been lost with the database). The anchor's payload holds everything its
/// signed note needs: origin, size, root, key id and signature.
async fn record_newest_anchor(
    ledger: &crate::config::LedgerConfig,
    published: &std::path::Path,
    origin: &Origin,
    signers: &[NoteSignerKey],
) -> anyhow::Result<()> {
    let Some(url) = &ledger.anchor_rpc_url else {
        return Ok(());
    };
    let contract = match &ledger.anchor_contract {
        Some(text) => Some(
            text.parse::<alloy_primitives::Address>()
                .with_context(|| format!("ledger.anchor_contract {text:?} is not an address"))?,
        ),
        None => None,
    };
    let keys =
        ledger::note::NoteVerifiers::new(signers.iter().map(NoteSignerKey::verifier_key).collect())
            .context("Invalid checkpoint keys")?;
    let rpc = anchor_verify::rpc::Rpc::new(url, std::time::Duration::from_secs(30));
    let (search_origin, from) = (origin.clone(), ledger.anchor_from_block);
    let found = tokio::task::spawn_blocking(move || {
        anchor_verify::verify::find_anchors(&rpc, &search_origin, contract.as_ref(), from, None)
    })
    .await
    .context("The anchor lookup failed")?
    .context("Failed to look up the log's anchors (ledger.anchor_rpc_url)")?;
    let Some((payload, key)) = found
        .iter()
        .filter_map(|anchor| anchor.payload.as_ref().ok())
        .filter(|payload| payload.signed_by(origin, &keys))
        .max_by_key(|payload| payload.size)
        .and_then(|payload| {
            keys.keys()
                .iter()
                .find(|key| key.id() == payload.key_id)
                .map(|key| (payload, key))
        })
    else {
        return Ok(());
    };
    let file = ledger_store::PublishedFile::new(
        published,
        ledger::checkpoint::TrustedLog::new(origin.clone(), keys.clone()),
    );
    let recorded = file.read().with_context(|| {
        format!(
            "Failed to read the published-checkpoint file {}",
            published.display()
        )
    })?;
    if recorded.is_some_and(|checkpoint| checkpoint.size >= payload.size) {
        return Ok(());
    }
    let mut signature = Vec::with_capacity(68);
    signature.extend_from_slice(&payload.key_id.to_be_bytes());
    signature.extend_from_slice(&payload.signature);
    use base64::Engine as _;
    let note = format!(
        "{}\n\u{2014} {} {}\n",
        payload.checkpoint_text(origin),
        key.name(),
        base64::engine::general_purpose::STANDARD.encode(&signature)
    );
    file.write(&ledger_store::StoredCheckpoint {
        size: payload.size,
        root: payload.root,
        note,
    })
    .with_context(|| {
        format!(
            "Failed to record the newest anchor in {}",
            published.display()
        )
    })?;
    tracing::warn!(
        size = payload.size.get(),
        file = %published.display(),
        "the newest anchor on chain is newer than the published-checkpoint file: recorded it there"
    );
    Ok(())
}
