//! The answers every actix-web service gives alike: `GET /health/live` and the `GET /metrics`
//! response.

use actix_web::HttpResponse;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use serde_json::json;

/// `GET /health/live`: the process answers.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// The `GET /metrics` answer of a registry's text ([`crate::metrics::text`]): `500` when it
/// could not be written.
pub fn metrics_answer(text: Result<String, std::fmt::Error>) -> HttpResponse {
    match text {
        Ok(text) => HttpResponse::Ok()
            .insert_header((
                CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            ))
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// A client that has not sent its request's head within this long, or leaves a kept-alive
/// connection idle for this long, is cut off.
pub const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts `server` on `listeners` with the service's `[http]` settings: each connection holds a
/// slot of its client (a [`ConnectionSlot`](crate::clients::ConnectionSlot) in the connection's
/// extensions, which the service's admission middleware reads to refuse a client over
/// `http.max_connections_per_client`; beyond twice that, and at least 16 beyond, the connection is
/// closed as it opens);
/// slow and idle clients are cut ([`CLIENT_TIMEOUT`]); the
/// process's signals are not the server's (stop it with [`HttpService::stop_on`]).
pub fn start<F, I, S, B, const L: u16, const T: u64, const R: u64>(
    server: actix_web::HttpServer<F, I, S, B>,
    listeners: crate::listeners::Listeners,
    http: &crate::config::HttpConfig<L, T, R>,
) -> std::io::Result<Serving>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: actix_service::IntoServiceFactory<S, actix_http::Request>,
    S: actix_service::ServiceFactory<actix_http::Request, Config = actix_web::dev::AppConfig>
        + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<actix_web::dev::Response<B>> + 'static,
    <S::Service as actix_service::Service<actix_http::Request>>::Future: 'static,
    S::Service: 'static,
    B: actix_web::body::MessageBody + 'static,
{
    let routing = listeners.routing;
    let connections = crate::clients::ConnectionLimits::new(http.max_connections_per_client);
    let mut server = server
        .shutdown_timeout(http.shutdown_timeout.as_secs().max(1))
        .on_connect(move |connection, extensions| {
            let slot = connections.open_connection(connection);
            if slot.flooding() {
                shut_down(connection);
            }
            extensions.insert(slot);
        })
        .client_request_timeout(CLIENT_TIMEOUT)
        .keep_alive(CLIENT_TIMEOUT)
        .disable_signals();
    if let Some(workers) = http.workers {
        server = server.workers(workers);
    }
    for listener in listeners {
        server = server.listen(listener)?;
    }
    Ok(Serving {
        port: routing.public.port(),
        operator_port: routing.operator.map(|address| address.port()),
        server: server.run(),
    })
}

/// Closes a connection as it opens (what an HTTP server hands its on-connect hook; only a TCP
/// stream is closed): the server then reads its end and lets it go.
fn shut_down(connection: &dyn std::any::Any) {
    if let Some(stream) = connection.downcast_ref::<tokio::net::TcpStream>() {
        let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
    }
}

/// A running HTTP server and the ports it listens on.
pub struct Serving {
    port: u16,
    operator_port: Option<u16>,
    server: actix_web::dev::Server,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("port", &self.port)
            .field("operator_port", &self.operator_port)
            .finish_non_exhaustive()
    }
}

impl Serving {
    /// Serves until the server stops.
    pub async fn finish(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// A service application that serves HTTP: its ports, and how it is stopped.
pub trait HttpService: Sized {
    /// Its running server.
    fn serving(&self) -> &Serving;

    /// Serves until the server stops (the token given to [`stop_on`](Self::stop_on) fired, or
    /// [`handle`](Self::handle)`().stop`), then winds down what the service runs beside it.
    fn run_until_stopped(self) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The port the public listener listens on.
    fn port(&self) -> u16 {
        self.serving().port
    }

    /// The port of the operator listener (`http.operator_listen`), if configured.
    fn operator_port(&self) -> Option<u16> {
        self.serving().operator_port
    }

    /// A handle to stop the server: `handle.stop(true)` stops accepting connections and lets
    /// in-flight requests finish (up to `http.shutdown_timeout`).
    fn handle(&self) -> actix_web::dev::ServerHandle {
        self.serving().server.handle()
    }

    /// Stops the server gracefully (as `handle().stop(true)`) when `cancel` fires: how `main`
    /// connects the process's SIGINT/SIGTERM token ([`crate::shutdown::cancel_on_signals`]).
    fn stop_on(&self, cancel: tokio_util::sync::CancellationToken) {
        let handle = self.handle();
        tokio::spawn(async move {
            cancel.cancelled().await;
            handle.stop(true).await;
        });
    }
}

/// Runs the application `build` makes on an actix-web system until SIGINT or SIGTERM stops it
/// (what a service's `main` does once its settings and log are set up).
pub fn run_until_signalled<A: HttpService>(
    build: impl Future<Output = anyhow::Result<A>>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    actix_web::rt::System::new().block_on(async move {
        let cancel = crate::shutdown::cancel_on_signals()
            .context("Failed to install the SIGINT/SIGTERM handlers")?;
        let application = build.await?;
        application.stop_on(cancel);
        application.run_until_stopped().await
    })
}
