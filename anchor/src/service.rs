//! The worker process: one task per chain, and (when `metrics.listen` is set) an HTTP listener for
//! `/metrics`, `/health/live` and `/health/ready`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::AnchorStore;
use crate::worker::ChainWorker;

/// What the HTTP endpoints read.
#[derive(Debug)]
struct State {
    anchors: AnchorStore,
    metrics: Arc<Metrics>,
    chains: usize,
    started: Arc<AtomicUsize>,
}

/// Runs the worker until `cancel`: returns an error when the settings are wrong for a chain (the
/// other chains are stopped too) or the database or listener cannot be set up.
/// `on_listening` gets the metrics port once it listens (tests use port 0).
pub async fn run(
    config: Config,
    environment: &BTreeMap<String, String>,
    cancel: CancellationToken,
    on_listening: impl FnOnce(Option<u16>),
) -> anyhow::Result<()> {
    let chains = config
        .chain_settings(environment)
        .context("Failed to read the chains' settings")?;
    let anchors = AnchorStore::connect(
        config.database.url.expose_secret(),
        config.database.pool_size,
    )
    .context("Failed to set up the anchors' database pool")?;
    let metrics = Arc::new(Metrics::new());
    let started = Arc::new(AtomicUsize::new(0));

    let server = match config.metrics.listen {
        Some(address) => {
            let listener = TcpListener::bind(address)
                .with_context(|| format!("Failed to listen on {address}"))?;
            let port = listener
                .local_addr()
                .context("Failed to read the address")?
                .port();
            let state = web::Data::new(State {
                anchors: anchors.clone(),
                metrics: metrics.clone(),
                chains: chains.len(),
                started: started.clone(),
            });
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .route("/metrics", web::get().to(metrics_route))
                    .route("/health/live", web::get().to(service_kit::http::live))
                    .route("/health/ready", web::get().to(ready))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .context("Failed to start the metrics listener")?
            .run();
            tracing::info!(port, "anchor metrics listening");
            on_listening(Some(port));
            Some(server)
        }
        None => {
            on_listening(None);
            None
        }
    };
    let server_handle = server.as_ref().map(actix_web::dev::Server::handle);
    let server_task = server.map(tokio::spawn);

    let mut tasks = tokio::task::JoinSet::new();
    for settings in chains {
        let anchors = anchors.clone();
        let metrics = metrics.clone();
        let cancel = cancel.clone();
        let started = started.clone();
        tasks.spawn(async move {
            let name = settings.name.clone();
            match ChainWorker::start(settings, anchors, metrics, &cancel).await {
                Ok(Some(worker)) => {
                    started.fetch_add(1, Ordering::Relaxed);
                    worker.run(cancel).await;
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(error) => {
                    tracing::error!(chain = %name, error = %error, "cannot anchor on this chain");
                    Err(anyhow::Error::new(error))
                }
            }
        });
    }
    let mut outcome = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let result = joined
            .context("a chain's task failed")
            .and_then(|result| result);
        if let Err(error) = result {
            cancel.cancel();
            if outcome.is_ok() {
                outcome = Err(error);
            }
        }
    }
    if let Some(handle) = server_handle {
        handle.stop(true).await;
    }
    if let Some(task) = server_task {
        let _ = task.await;
    }
    tracing::info!("anchor stopped");
    outcome
}

async fn metrics_route(state: web::Data<State>) -> HttpResponse {
    // The pool of the worker's own tables, which its chains' tasks work on.
    state.metrics.pool(state.anchors.pool_status());
    service_kit::http::metrics_answer(state.metrics.encode())
}

async fn ready(state: web::Data<State>) -> HttpResponse {
    let not_ready = |reason: String| {
        HttpResponse::ServiceUnavailable().json(json!({"status": "not ready", "reason": reason}))
    };
    let checked = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.anchors.log().migration_status(),
    )
    .await;
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            // The database's own words stay in the log: they may name hosts, roles and databases.
            tracing::warn!(error = %service_kit::ErrorChain(&error), "readiness: the database check failed");
            return not_ready(
                "the database cannot be reached or is not migrated (see the log)".to_owned(),
            );
        }
        Err(_) => return not_ready("the database did not answer within 2 s".to_owned()),
    }
    let started = state.started.load(Ordering::Relaxed);
    if started < state.chains {
        return not_ready(format!(
            "{started} of {} chains reached (see the log)",
            state.chains
        ));
    }
    let stalled = state.metrics.stalled_chains();
    if !stalled.is_empty() {
        return not_ready(format!(
            "anchoring has stalled on {}: a checkpoint older than stall_after has no confirmed anchor (see the log)",
            stalled.join(", ")
        ));
    }
    HttpResponse::Ok().json(json!({"status": "ready"}))
}
