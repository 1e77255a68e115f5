//! Wiring: readers → smoother → event builder → spool → uploader, each a task that honours one
//! cancellation token.
//!
//! - one supervisor task per serial reader ([`crate::serial::supervise_jrd`]) sends reads into a
//!   bounded channel;
//! - when any reader or sensor uses MQTT, one MQTT transport ([`crate::mqtt::run`]) subscribes to
//!   their topics, sends Zebra and Impinj reads into the same channel and spools sensor events
//!   directly (they are not smoothed);
//! - the smoothing task takes reads, advances time every [`TICK`], builds events and appends them
//!   to the spool in one durable transaction per tick (on a blocking thread);
//! - the upload task drains the spool to ingest ([`crate::uploader`]), backing off with jitter.
//!
//! On cancellation the smoothing task closes open cycles and spools their events before it ends,
//! so shutdown loses no arrival; the uploader finishes its current request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ledger::batch::DeviceSigningKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ReaderKind, Sealing};
use crate::metrics::Metrics;
use crate::read::TagRead;
use crate::serial::{SerialCounters, SerialProtocol, SerialReader, supervise_jrd, system_now};
use crate::smoothing::{ReadOutcome, Smoother};
use crate::spool::Spool;
use crate::uploader::{UploadOutcome, Uploader};
use service_kit::backoff::Backoff;

/// How often the smoother's clock advances and built events are spooled.
pub const TICK: Duration = Duration::from_millis(100);
/// Capacity of the read channel (reads wait in the transports when the smoother falls behind).
const READ_CHANNEL: usize = 16_384;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The metrics address could not be bound.
    #[error("failed to listen for metrics on {address}: {source}")]
    Metrics {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The `[upload] ca_file` cannot be used (the error names the file).
    #[error(transparent)]
    CaFile(#[from] crate::uploader::CaFileError),
    /// The spool could not be opened.
    #[error("failed to open the spool {path}: {source}")]
    Spool {
        /// The spool file.
        path: String,
        /// Why.
        source: crate::spool::SpoolError,
    },
}

/// Runs the bridge until `cancel` fires.
pub async fn run(
    config: Config,
    key: DeviceSigningKey,
    cancel: CancellationToken,
) -> Result<(), StartError> {
    let spool = Spool::open(&config.spool.path, config.spool.max_events).map_err(|source| {
        StartError::Spool {
            path: config.spool.path.display().to_string(),
            source,
        }
    })?;
    let spool = Arc::new(Mutex::new(spool));
    // Before any reader starts: a CA file that cannot be used stops the bridge here.
    let uploader = match &config.upload {
        Some(upload) => Some(Uploader::from_config(
            upload,
            config.device.clone(),
            key,
            Duration::from_secs(30),
        )?),
        None => None,
    };
    let metrics = Arc::new(Metrics::new());
    metrics.spool_max(config.spool.max_events);
    if let Ok(spool) = spool.lock() {
        metrics.spool_bytes(spool.disk_bytes());
    }
    let mut tasks = Vec::new();
    if let Some(address) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Metrics { address, source })?;
        tasks.push(tokio::spawn(crate::metrics::serve(
            listener,
            metrics.clone(),
            cancel.clone(),
        )));
    }
    let (reads_tx, reads_rx) = mpsc::channel::<TagRead>(READ_CHANNEL);

    for reader in &config.readers {
        let protocol = match reader.kind {
            ReaderKind::Jrd => Some(SerialProtocol::Jrd),
            ReaderKind::Ru5102 => Some(SerialProtocol::Ru5102),
            ReaderKind::Zebra | ReaderKind::Impinj => None,
        };
        match (protocol, &reader.port) {
            (Some(protocol), Some(port)) => {
                let serial = SerialReader {
                    protocol,
                    path: port.clone(),
                    baud: reader.baud,
                    reader: reader.id.clone(),
                    power_dbm: reader.power_dbm,
                    capture_tid: config
                        .read_points
                        .iter()
                        .any(|point| point.reader == reader.id && point.capture_tid),
                };
                let counters = Arc::new(SerialCounters::default());
                metrics.watch_serial(reader.id.as_str(), counters.clone());
                tasks.push(tokio::spawn(supervise_jrd(
                    serial,
                    reads_tx.clone(),
                    counters,
                    cancel.clone(),
                    Duration::from_secs(30),
                )));
            }
            (Some(_), None) => {
                // The configuration refuses a serial reader without a port.
                tracing::warn!(reader = %reader.id, "a serial reader without a port is ignored");
            }
            (None, _) => {} // An MQTT reader: served by the MQTT transport below.
        }
    }
    let routes = crate::mqtt::routes(&config);
    match (&config.mqtt, routes.is_empty()) {
        (Some(mqtt), false) => {
            for route in &routes {
                metrics.watch_mqtt_topic(route.label());
            }
            let sinks = crate::mqtt::Sinks {
                reads: reads_tx.clone(),
                spool: spool.clone(),
                metrics: metrics.clone(),
            };
            tasks.push(tokio::spawn(crate::mqtt::run(
                mqtt.clone(),
                routes,
                sinks,
                cancel.clone(),
            )));
        }
        (None, false) => {
            // The configuration requires [mqtt] when a reader or sensor uses it.
            tracing::warn!(
                "MQTT readers or sensors are configured without [mqtt]; they are ignored"
            );
        }
        (_, true) => {}
    }
    drop(reads_tx);

    let smoother = Smoother::new(config.smoothing, &config.read_points);
    tasks.push(tokio::spawn(smooth_and_spool(
        smoother,
        reads_rx,
        config.sealing.clone(),
        spool.clone(),
        metrics.clone(),
        cancel.clone(),
    )));

    if let (Some(upload), Some(uploader)) = (&config.upload, uploader) {
        let backoff = Backoff::new(upload.retry_min, upload.retry_max);
        // Its own connection (WAL lets it read while events are spooled), so a slow request never
        // holds up spooling.
        let upload_spool =
            Spool::open(&config.spool.path, config.spool.max_events).map_err(|source| {
                StartError::Spool {
                    path: config.spool.path.display().to_string(),
                    source,
                }
            })?;
        let upload_spool = Arc::new(Mutex::new(upload_spool));
        tasks.push(tokio::spawn(upload_loop(
            uploader,
            upload_spool,
            backoff,
            metrics.clone(),
            cancel.clone(),
        )));
    }

    cancel.cancelled().await;
    for task in tasks {
        if let Err(error) = task.await {
            tracing::error!(error = %error, "a bridge task panicked");
        }
    }
    Ok(())
}

async fn smooth_and_spool(
    mut smoother: Smoother,
    mut reads: mpsc::Receiver<TagRead>,
    sealing: Option<Sealing>,
    spool: Arc<Mutex<Spool>>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(TICK);
    let mut events = Vec::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                smoother.flush(&mut events);
                spool_events(&spool, &mut events, sealing.as_ref(), &metrics).await;
                return;
            }
            read = reads.recv() => match read {
                Some(read) => {
                    let outcome = smoother.push(&read, &mut events);
                    metrics.read(read.reader.as_str(), outcome.label());
                    metrics.tags_present(smoother.present_tags());
                    if let ReadOutcome::Undecodable { epc_hex, reason } = &outcome {
                        tracing::warn!(reader = %read.reader, antenna = read.antenna, epc = %epc_hex, error = %reason, "undecodable EPC");
                    }
                }
                None => {
                    // Every transport has stopped: wait for cancellation, still ticking.
                    reads = mpsc::channel(1).1;
                }
            },
            _ = tick.tick() => {
                smoother.advance(system_now(), &mut events);
                metrics.tags_present(smoother.present_tags());
                spool_events(&spool, &mut events, sealing.as_ref(), &metrics).await;
            }
        }
    }
}

async fn spool_events(
    spool: &Arc<Mutex<Spool>>,
    events: &mut Vec<crate::smoothing::SmoothedEvent>,
    sealing: Option<&Sealing>,
    metrics: &Metrics,
) {
    if events.is_empty() {
        return;
    }
    for event in events.iter() {
        metrics.event_built(event.transition.as_str());
    }
    let mut built: Vec<serde_json::Map<String, serde_json::Value>> = events
        .drain(..)
        .map(|event| crate::event::object_event(&event))
        .collect();
    // Sealed before anything keeps them: the values never reach the spool in clear.
    let keys = match sealing {
        None => Vec::new(),
        Some(sealing) => match crate::event::seal_events(&mut built, sealing, &mut os_random) {
            Ok(sealed) => {
                if sealed.left_out > 0 {
                    tracing::error!(
                        values = sealed.left_out,
                        "values too long to seal were left out of their events (never sent in clear)"
                    );
                }
                sealed.keys
            }
            Err(error) => {
                // The recipients were checked at start-up; nothing is spooled in clear.
                tracing::error!(error = %error, events = built.len(), "sealing failed: the events were not spooled");
                return;
            }
        },
    };
    let json: Vec<String> = built
        .into_iter()
        .map(|event| serde_json::Value::Object(event).to_string())
        .collect();
    // Failures are logged inside; the smoother has nothing to retry with.
    let _ = spool_json_keyed(spool, json, keys, metrics).await;
}

/// The operating system's random bytes (for sealing's batch keys).
fn os_random(bytes: &mut [u8]) {
    // The operating system's generator failing is not something to carry on from.
    #[allow(clippy::expect_used)]
    getrandom::fill(bytes).expect("the operating system gives random bytes");
}

/// Appends built events (JSON text) to the spool in one durable transaction on a blocking thread,
/// updates the spool metrics and logs refusals and failures. `Ok` once the transaction committed
/// (events refused because the spool is full are counted and logged, not an error); `Err` when
/// nothing was stored.
pub(crate) async fn spool_json(
    spool: &Arc<Mutex<Spool>>,
    json: Vec<String>,
    metrics: &Metrics,
) -> Result<(), ()> {
    spool_json_keyed(spool, json, Vec::new(), metrics).await
}

/// As [`spool_json`], each event with the key set of its sealed values (`keys[i]` for `json[i]`).
async fn spool_json_keyed(
    spool: &Arc<Mutex<Spool>>,
    json: Vec<String>,
    keys: Vec<Option<String>>,
    metrics: &Metrics,
) -> Result<(), ()> {
    if json.is_empty() {
        return Ok(());
    }
    let spool = spool.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut spool = spool
            .lock()
            .map_err(|_| "the spool lock is poisoned".to_owned())?;
        let now = system_now();
        let outcome = spool
            .append_keyed(&json, &keys, now)
            .map_err(|error| error.to_string())?;
        // What is durable now, by the hash ingest will give it: an operator (or a test) can follow
        // each event from the gateway into the ledger.
        if tracing::enabled!(tracing::Level::DEBUG) {
            for event in &json[..outcome.accepted] {
                match crate::event::event_hash(event) {
                    Ok(hash) => tracing::debug!(event_hash = %hash, "event spooled"),
                    Err(error) => {
                        tracing::warn!(error = %error, "a spooled event cannot be hashed")
                    }
                }
            }
        }
        let oldest = spool.oldest().ok().flatten().map_or(0, |oldest| {
            now.as_millis().saturating_sub(oldest.as_millis()) / 1000
        });
        // The uploader's connection removes events: read the depth as it is now.
        let depth = spool.refresh_depth().unwrap_or(spool.depth());
        Ok::<_, String>((outcome, depth, oldest, spool.disk_bytes()))
    })
    .await;
    if let Ok(Ok((outcome, depth, oldest, bytes))) = &result {
        metrics.spool(*depth, *oldest, outcome.refused as u64);
        metrics.spool_bytes(*bytes);
    }
    let result = result.map(|inner| inner.map(|(outcome, ..)| outcome));
    match result {
        Ok(Ok(outcome)) if outcome.refused > 0 => {
            tracing::error!(
                refused = outcome.refused,
                "the spool is full: new events were refused"
            );
            Ok(())
        }
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => {
            tracing::error!(error = %error, "failed to spool events");
            Err(())
        }
        Err(error) => {
            tracing::error!(error = %error, "the spool task panicked");
            Err(())
        }
    }
}

async fn upload_loop(
    uploader: Uploader,
    spool: Arc<Mutex<Spool>>,
    mut backoff: Backoff,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let uploader = Arc::new(uploader);
    while !cancel.is_cancelled() {
        let (uploader, spool) = (uploader.clone(), spool.clone());
        let started = std::time::Instant::now();
        let attempt = tokio::task::spawn_blocking(move || {
            let mut spool = spool
                .lock()
                .map_err(|_| "the spool lock is poisoned".to_owned())?;
            let now = system_now();
            let outcome = uploader
                .upload_once(&mut spool, now)
                .map_err(|error| error.to_string())?;
            // Events left the spool: its gauges follow.
            let state = match outcome {
                UploadOutcome::Idle => None,
                UploadOutcome::Uploaded { .. }
                | UploadOutcome::Quarantined { .. }
                | UploadOutcome::Unreadable { .. } => {
                    let oldest = spool.oldest().ok().flatten().map_or(0, |oldest| {
                        now.as_millis().saturating_sub(oldest.as_millis()) / 1000
                    });
                    let bytes = spool.disk_bytes();
                    spool
                        .refresh_depth()
                        .ok()
                        .map(|depth| (depth, oldest, bytes))
                }
            };
            Ok::<_, String>((outcome, state))
        })
        .await;
        let attempt = attempt.map(|result| {
            result.map(|(outcome, state)| {
                if let Some((depth, oldest, bytes)) = state {
                    metrics.spool(depth, oldest, 0);
                    metrics.spool_bytes(bytes);
                }
                outcome
            })
        });
        let seconds = started.elapsed().as_secs_f64();
        match &attempt {
            Ok(Ok(UploadOutcome::Uploaded { events })) => {
                metrics.upload(seconds, *events as u64, 0, false)
            }
            Ok(Ok(UploadOutcome::Quarantined { events, .. })) => {
                metrics.upload(seconds, 0, *events as u64, false)
            }
            Ok(Ok(UploadOutcome::Unreadable { .. })) => metrics.upload(seconds, 0, 1, false),
            Ok(Ok(UploadOutcome::Idle)) => {}
            _ => metrics.upload(seconds, 0, 0, true),
        }
        let pause = match attempt {
            Ok(Ok(UploadOutcome::Uploaded { events })) => {
                backoff.reset();
                tracing::debug!(events, "uploaded");
                Duration::ZERO
            }
            Ok(Ok(UploadOutcome::Idle)) => {
                backoff.reset();
                TICK
            }
            Ok(Ok(UploadOutcome::Unreadable { seq, reason })) => {
                tracing::error!(seq, reason = %reason, "a spooled event could not be read; it was quarantined in the spool");
                Duration::ZERO
            }
            Ok(Ok(UploadOutcome::Quarantined { events, status })) => {
                tracing::error!(
                    events,
                    status,
                    "ingest refused events for good; they were quarantined in the spool"
                );
                Duration::ZERO
            }
            Ok(Err(error)) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %error, delay_ms = delay.as_millis() as u64, "upload failed; retrying");
                delay
            }
            Err(error) => {
                tracing::error!(error = %error, "the upload task panicked");
                backoff.next_delay()
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}
