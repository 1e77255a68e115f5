//! The HTTP interface. Every route answers JSON (or the C2SP tlog-tiles resources), errors as
//! RFC 7807 problems; every request passes the rate limiter, is counted by route template and
//! says how long the server took (`Server-Timing: app;dur=<ms>`).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, Handler, HttpResponse, Resource, Responder, ResponseError, web};

use service_kit::listeners::Admission;

use crate::problem::Problem;
use crate::startup::AppState;

mod access_log;
mod events;
mod exports;
pub(crate) mod health;
mod index;
mod items;
mod log;
mod metrics;
mod openapi;
pub use query::PageKey;
pub use recipients::MAX_LISTED as MAX_LISTED_RECIPIENT_KEYS;
mod class_recalls;
mod page;
mod queries;
mod query;
mod recalls;
mod recipients;
mod scan;
mod sealed;
pub(crate) mod streams;
mod subscriptions;
pub(crate) use subscriptions::spawn as spawn_subscriptions;
mod trace;

/// The routes, each registered from this one list: [`ROUTES`] and [`configure`] cannot disagree.
/// Those before `post:` answer `GET` and `HEAD`, those after it `POST`; those after `resources:`
/// are built by their function with the methods they answer. Those after `last:` answer `GET`
/// and `HEAD` and are registered after all others: a path another route takes (`/events`) is
/// that route's, though theirs would match it too.
macro_rules! routes {
    (
        $($path:literal => $handler:path),* $(,)?;
        post: $($posted:literal => $poster:path),* $(,)?;
        resources: $($resource:literal => $builder:path),* $(,)?;
        last: $($last:literal => $last_handler:path),* $(,)?
    ) => {
        /// Every route's path template, as registered (a `{name:regex}` segment keeps its regex).
        pub const ROUTES: &[&str] = &[$($path,)* $($posted,)* $($resource,)* $($last),*];

        /// Registers every route.
        pub fn configure(config: &mut web::ServiceConfig) {
            $(config.service(get($path, $handler));)*
            $(config.service(post($posted, $poster));)*
            $(config.service($builder($resource));)*
            $(config.service(get($last, $last_handler));)*
            config.default_service(web::to(not_found));
        }
    };
}

routes! {
    "/items/{id}/history" => items::history,
    "/items/{id}/bundle" => items::bundle,
    "/01/{gtin}/21/{serial}" => scan::verdict,
    "/01/{gtin}/10/{lot}/21/{serial}" => scan::verdict,
    "/01/{gtin}/10/{lot}" => scan::class_verdict,
    "/01/{gtin}" => scan::class_verdict,
    "/00/{sscc}" => scan::verdict,
    "/.well-known/gs1resolver" => scan::description,
    "/events" => query::events,
    "/events/{eventID}" => query::by_event_id,
    "/eventTypes/{eventType}/events" => query::by_resource,
    "/epcs/{epc}/events" => query::by_resource,
    "/bizSteps/{bizStep}/events" => query::by_resource,
    "/bizLocations/{bizLocation}/events" => query::by_resource,
    "/readPoints/{readPoint}/events" => query::by_resource,
    "/dispositions/{disposition}/events" => query::by_resource,
    "/events/{hash}/bundle" => events::bundle,
    "/events/{hash}/proof" => events::proof,
    "/sealed/{commitment}/{recipient}" => sealed::keys,
    "/organisations/{organisation}/recipient-keys" => recipients::keys,
    "/log/checkpoint" => log::checkpoint,
    "/log/tile/{path:.+}" => log::tile,
    "/log/entries/{path:.+}" => log::entries,
    "/log/index/{root}" => index::head,
    "/log/index/{root}/{key}" => index::proof,
    "/health/live" => service_kit::http::live,
    "/health/ready" => health::ready,
    "/metrics" => metrics::metrics,
    "/openapi.json" => openapi::document,
    "/trace/{id}" => trace::trace,
    "/access-log/checkpoint" => access_log::checkpoint,
    "/access-log/tile/{path:.+}" => access_log::tile,
    "/access-log/entries" => access_log::entries,
    "/queries/{name}/events" => queries::events,
    "/check.js" => page::script;
    post:
    "/exports" => exports::create,
    "/recalls" => recalls::create;
    resources:
    "/queries" => queries::collection,
    "/queries/{name}" => queries::item,
    "/queries/{name}/subscriptions" => subscriptions::collection,
    "/queries/{name}/subscriptions/{id}" => subscriptions::item;
    last:
    "/01/{gtin}/{compressed:[A-Za-z0-9_-]+}" => scan::compressed,
    "/00/{sscc}/{compressed:[A-Za-z0-9_-]+}" => scan::compressed,
    "/{compressed:[A-Za-z0-9_-]+}" => scan::compressed,
}

/// The routes whose answers load events (counted per client: `limits.max_answers_per_client`),
/// besides the binding's query routes ([`BINDING_ROUTES`]).
const LOADING_ROUTES: &[&str] = &[
    "/items/{id}/history",
    "/items/{id}/bundle",
    "/01/{gtin}/21/{serial}",
    "/01/{gtin}/10/{lot}/21/{serial}",
    "/01/{gtin}/10/{lot}",
    "/01/{gtin}",
    "/00/{sscc}",
    "/01/{gtin}/{compressed:[A-Za-z0-9_-]+}",
    "/00/{sscc}/{compressed:[A-Za-z0-9_-]+}",
    "/{compressed:[A-Za-z0-9_-]+}",
    "/log/entries/{path:.+}",
    "/log/index/{root}/{key}",
    "/trace/{id}",
    "/exports",
    "/recalls",
];

/// Answers refused as asking too much (`422`), by the identifiers asked for and the limit, with the
/// smallest checkpoint size they were refused as of. A history only grows with the log (more
/// entries can only name more events), so the same question as of that checkpoint or a later one
/// is refused again without loading anything: repeating an expensive request costs nothing.
#[derive(Debug)]
pub struct RefusedAnswers(ledger_store::Generations<(Vec<String>, usize), (u64, String)>);

impl RefusedAnswers {
    /// Remembers up to about `capacity` refusals.
    pub fn new(capacity: usize) -> Self {
        Self(ledger_store::Generations::new(capacity))
    }

    /// Why the question, asked as of a checkpoint of `size` entries, was refused before.
    pub fn get(&self, names: &[String], limit: usize, size: u64) -> Option<String> {
        self.0
            .get(&(names.to_vec(), limit))
            .filter(|(refused_at, _)| *refused_at <= size)
            .map(|(_, why)| why)
    }

    /// Remembers a refusal as of a checkpoint of `size` entries.
    pub fn insert(&self, names: &[String], limit: usize, size: u64, why: &str) {
        let key = (names.to_vec(), limit);
        if self
            .0
            .peek(&key)
            .is_none_or(|(refused_at, _)| size < refused_at)
        {
            self.0.insert(key, (size, why.to_owned()));
        }
    }
}

/// A question: the identifiers asked about and the limit.
type Question = (Vec<String>, usize);

/// The gate of a question: the turn its answers take until one is answered, and the largest
/// checkpoint size it was answered as of.
#[derive(Debug, Default)]
pub struct AnswerGate {
    turn: tokio::sync::Mutex<()>,
    answered: std::sync::atomic::AtomicU64,
}

impl AnswerGate {
    /// Waits for the question's turn, unless it was answered (not refused) as of `size` or a
    /// larger checkpoint: then a refusal is not to be learned, and copies of it are answered
    /// side by side (`None`).
    pub async fn turn(&self, size: u64) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.was_answered(size) {
            return None;
        }
        let turn = self.turn.lock().await;
        (!self.was_answered(size)).then_some(turn)
    }

    /// Whether an answer as of `size` or later was given: a history only grows, but one that
    /// fits as of a larger checkpoint fits as of a smaller one too.
    fn was_answered(&self, size: u64) -> bool {
        self.answered.load(std::sync::atomic::Ordering::SeqCst) >= size
    }

    /// Records that the question was answered as of `size`.
    pub fn answered(&self, size: u64) {
        self.answered
            .fetch_max(size, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One gate per question being answered: the same question (identifiers and limit) asked again
/// while it is being answered waits for that answer to end, so that a refusal is learned once
/// instead of by every copy of the request loading the same events. Once one is answered, the
/// copies waiting, and those after, are answered side by side: a popular item's scans do not
/// queue behind each other.
#[derive(Debug, Default)]
pub struct AnswerGates(
    std::sync::Mutex<std::collections::HashMap<Question, std::sync::Weak<AnswerGate>>>,
);

impl AnswerGates {
    /// The gate of a question (made if none is open).
    pub fn gate(&self, names: &[String], limit: usize) -> std::sync::Arc<AnswerGate> {
        let mut gates = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (names.to_vec(), limit);
        if let Some(gate) = gates.get(&key).and_then(std::sync::Weak::upgrade) {
            return gate;
        }
        // Gates no answer holds any more are dropped now and then: the map stays small.
        if gates.len() >= 1024 {
            gates.retain(|_, gate| gate.strong_count() > 0);
        }
        let gate = std::sync::Arc::new(AnswerGate::default());
        gates.insert(key, std::sync::Arc::downgrade(&gate));
        gate
    }
}

/// The routes a GS1 Digital Link resolver answers (GS1-Conformant Resolver standard): they answer
/// `OPTIONS` too, and every answer of theirs allows any origin (CORS), so that an app or a page
/// of another site can ask.
const RESOLVER_ROUTES: &[&str] = &[
    "/01/{gtin}/21/{serial}",
    "/01/{gtin}/10/{lot}/21/{serial}",
    "/01/{gtin}/10/{lot}",
    "/01/{gtin}",
    "/00/{sscc}",
    "/01/{gtin}/{compressed:[A-Za-z0-9_-]+}",
    "/00/{sscc}/{compressed:[A-Za-z0-9_-]+}",
    "/{compressed:[A-Za-z0-9_-]+}",
    "/.well-known/gs1resolver",
];

/// The query routes of the EPCIS 2.0 REST binding: their answers load events, and they answer
/// `OPTIONS` too, the binding's discovery ([`query::options`]).
const BINDING_ROUTES: &[&str] = &[
    "/events",
    "/events/{eventID}",
    "/eventTypes/{eventType}/events",
    "/epcs/{epc}/events",
    "/bizSteps/{bizStep}/events",
    "/bizLocations/{bizLocation}/events",
    "/readPoints/{readPoint}/events",
    "/dispositions/{disposition}/events",
    "/queries/{name}/events",
];

/// A `POST` route: any other method is a `405` with `Allow: POST` (the route reads its body
/// itself, as far as it may be long).
fn post<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(Problem::MethodNotAllowed { allow: "POST" })
        }))
}

/// A resource of the binding that `read` answers for `GET` and `HEAD`, `write` for `method`, and
/// [`query::discovery`] for `OPTIONS`; any other method is a `405` naming those in `allow` (a
/// collection made with `POST`, an item ended with `DELETE`).
fn read_write<R, RArgs, W, WArgs>(
    path: &str,
    read: R,
    method: actix_web::http::Method,
    write: W,
    allow: &'static str,
) -> Resource
where
    R: Handler<RArgs>,
    RArgs: FromRequest + 'static,
    R::Output: Responder + 'static,
    W: Handler<WArgs>,
    WArgs: FromRequest + 'static,
    W::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(read.clone()))
        .route(web::head().to(read))
        .route(web::method(method).to(write))
        .route(
            web::method(actix_web::http::Method::OPTIONS)
                .to(move || async move { query::discovery(allow) }),
        )
        .default_service(web::to(move || async move {
            Err::<HttpResponse, _>(Problem::MethodNotAllowed { allow })
        }))
}

/// A resource that `handler` answers for `GET` and `HEAD` (the same answer without its body, as
/// RFC 9110 asks), and a resolver or binding route for `OPTIONS` too; any other method is a
/// `405` naming those in `Allow`, not a `404`: the resource exists, the service only reads.
fn get<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let resource = web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler));
    if RESOLVER_ROUTES.contains(&path) {
        resource
            .route(web::method(actix_web::http::Method::OPTIONS).to(scan::options))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(Problem::MethodNotAllowed {
                    allow: "GET, HEAD, OPTIONS",
                })
            }))
    } else if BINDING_ROUTES.contains(&path) {
        resource
            .route(web::method(actix_web::http::Method::OPTIONS).to(query::options))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(Problem::MethodNotAllowed {
                    allow: query::READ_ALLOW,
                })
            }))
    } else {
        resource.default_service(web::to(method_not_allowed))
    }
}

async fn method_not_allowed() -> Result<HttpResponse, Problem> {
    Err(Problem::MethodNotAllowed { allow: "GET, HEAD" })
}

/// Any origin may read a resolver route's answers, and see their `Link` and `Location`.
fn cors(route: &str, headers: &mut actix_web::http::header::HeaderMap) {
    if RESOLVER_ROUTES.contains(&route) {
        headers.insert(
            HeaderName::from_static("access-control-allow-origin"),
            HeaderValue::from_static("*"),
        );
        headers.insert(
            HeaderName::from_static("access-control-expose-headers"),
            HeaderValue::from_static("Link, Location"),
        );
    }
}

async fn not_found() -> Result<HttpResponse, Problem> {
    Err(Problem::NotFound(
        "no such resource: see /openapi.json for this service's routes".to_owned(),
    ))
}

/// Browsers must take every answer as the type it says (JSON, problem JSON, tiles as octets),
/// never guess another from its bytes.
fn nosniff(headers: &mut actix_web::http::header::HeaderMap) {
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
}

/// A request refused before its route ran: the problem as the answer (`nosniff`, the connection
/// closed when `close`), counted under `route`.
fn refused(
    state: &AppState,
    route: &str,
    started: Instant,
    problem: Problem,
    close: bool,
) -> actix_web::HttpResponse {
    let mut response = problem.error_response();
    nosniff(response.headers_mut());
    cors(route, response.headers_mut());
    if close {
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    state
        .metrics
        .request(route, response.status().as_u16(), started.elapsed());
    response
}

/// A GS1 Digital Link path with trailing slashes (`/01/{gtin}/21/{serial}/`, or a compressed
/// link's `/{compressed}/`) is taken as the path without them, as a GS1-Conformant Resolver
/// should tolerate: the request is answered, and counted, as the link's own route. Other paths
/// are left as they are.
pub async fn trailing_slash(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let path = request.path();
    let trimmed = path.trim_end_matches('/');
    let keyed =
        (path.starts_with("/01/") || path.starts_with("/00/")) && trimmed.len() > "/01/".len();
    if trimmed.len() < path.len() && (keyed || scan::is_whole_compressed_link(trimmed)) {
        let uri = match request.query_string() {
            "" => trimmed.to_owned(),
            query => format!("{trimmed}?{query}"),
        };
        if let Ok(uri) = uri.parse::<actix_web::http::Uri>() {
            request.match_info_mut().get_mut().update(&uri);
            request.head_mut().uri = uri;
        }
    }
    next.call(request).await
}

/// The rate limiter, the request timeout and the request metrics, around every route.
pub async fn around(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    // A connection beyond its client's cap is refused whatever it asks: probes and scrapes on it
    // too, or opening connections to send probes would get around the cap.
    if let Some(slot) = request.conn_data::<service_kit::clients::ConnectionSlot>()
        && slot.over()
    {
        state.metrics.rate_limited();
        let problem = Problem::TooManyConnections { cap: slot.cap() };
        let response = refused(&state, &route, started, problem, true);
        return Ok(request.into_response(response));
    }
    // Probes and scrapes are not rate limited on the operator's own listener; without one they
    // are public routes like the others.
    let admission = state
        .routing
        .admit(request.app_config().local_addr(), request.path());
    if admission == Admission::NotHere {
        let problem =
            Problem::NotFound(service_kit::listeners::not_here(request.path()).to_owned());
        let response = refused(&state, "unmatched", started, problem, false);
        return Ok(request.into_response(response));
    }
    if admission == Admission::Limited
        && let Some(peer) = request.peer_addr()
        && let Err(retry_after) = state.limiter.check(peer.ip(), started)
    {
        state.metrics.rate_limited();
        state.limiter.answer_late(retry_after).await;
        // Closed too: a client over its rate must open a new connection before it asks again,
        // so a flood on kept-alive connections cannot keep the workers answering 429s.
        let problem = Problem::RateLimited { retry_after };
        let response = refused(&state, &route, started, problem, true);
        return Ok(request.into_response(response));
    }
    // Answers that load events: none for a client whose answers loaded more than its byte rate
    // has paid back, and at most so many per client at once.
    let loads = |routes: &[&str]| routes.contains(&route.as_str());
    let _answer_slot = if loads(LOADING_ROUTES) || loads(BINDING_ROUTES) {
        let client = request.peer_addr().map(|peer| peer.ip());
        if let Err(retry_after) = state.budget.admit(client, started) {
            // Late and closed, as a request over its rate is.
            state.metrics.rate_limited();
            state.limiter.answer_late(retry_after).await;
            let problem = Problem::AnswerBytesSpent { retry_after };
            let response = refused(&state, &route, started, problem, true);
            return Ok(request.into_response(response));
        }
        let slot = state.answers.open(client);
        if slot.over() {
            state.metrics.rate_limited();
            let problem = Problem::TooManyAnswers { cap: slot.cap() };
            let response = refused(&state, &route, started, problem, false);
            return Ok(request.into_response(response));
        }
        Some(slot)
    } else {
        None
    };
    let timeout = state.request_timeout;
    let response = match tokio::time::timeout(timeout, next.call(request)).await {
        Ok(response) => response?.map_into_boxed_body(),
        Err(_) => {
            // The handler is dropped; the framework answers the error (no request is kept for
            // it: a request shared with a dropped handler cannot be reused).
            let problem = Problem::Unavailable(format!("the request took longer than {timeout:?}"));
            state
                .metrics
                .request(&route, problem.status_code().as_u16(), started.elapsed());
            return Err(problem.into());
        }
    };
    let took = started.elapsed();
    state
        .metrics
        .request(&route, response.status().as_u16(), took);
    let mut response = response;
    nosniff(response.headers_mut());
    cors(&route, response.headers_mut());
    // The server's own time, for clients and load drivers (W3C Server Timing).
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={:.3}", took.as_secs_f64() * 1000.0))
    {
        response
            .headers_mut()
            .insert(HeaderName::from_static("server-timing"), value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_of_a_question_wait_only_until_it_was_answered() {
        let gates = AnswerGates::default();
        let names = ["urn:epc:id:sgtin:0614141.812345.6789".to_owned()];
        let gate = gates.gate(&names, 10);
        let first = gate.turn(7).await;
        assert!(first.is_some(), "the first copy takes the turn");
        // A copy of the same question waits while the first is being answered.
        let same = gates.gate(&names, 10);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), same.turn(7))
                .await
                .is_err()
        );
        gate.answered(7);
        drop(first);
        // Answered as of 7: copies as of 7 or earlier go side by side; a later checkpoint's
        // copy takes the turn (its history may have grown past the limit).
        assert!(same.turn(7).await.is_none());
        assert!(same.turn(5).await.is_none());
        let later = same.turn(8).await;
        assert!(later.is_some());
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), gate.turn(9))
                .await
                .is_err()
        );
    }

    #[test]
    fn a_refusal_holds_for_its_checkpoint_and_every_later_one_not_for_earlier_ones() {
        let refused = RefusedAnswers::new(16);
        let names = vec!["urn:epc:id:grai:0614141.12345.400".to_owned()];
        refused.insert(&names, 1000, 50, "too much");
        assert_eq!(refused.get(&names, 1000, 50).as_deref(), Some("too much"));
        assert_eq!(refused.get(&names, 1000, 900).as_deref(), Some("too much"));
        assert_eq!(refused.get(&names, 1000, 49), None, "an older checkpoint");
        assert_eq!(refused.get(&names, 10, 50), None, "another limit");
        // A refusal as of a later checkpoint does not forget the earlier one.
        refused.insert(&names, 1000, 70, "too much");
        assert_eq!(refused.get(&names, 1000, 60).as_deref(), Some("too much"));
    }

    #[test]
    fn compressed_links_are_resolver_routes_that_load_registered_last() {
        let compressed: Vec<&str> = ROUTES
            .iter()
            .copied()
            .filter(|route| scan::is_compressed_route(route))
            .collect();
        assert_eq!(compressed.len(), 3, "{compressed:?}");
        for route in &compressed {
            assert!(RESOLVER_ROUTES.contains(route), "{route}");
            assert!(LOADING_ROUTES.contains(route), "{route}");
        }
        // After every other route: `/events` is the binding's, not a compressed link's.
        assert_eq!(
            &ROUTES[ROUTES.len() - compressed.len()..],
            compressed.as_slice()
        );
    }

    #[test]
    fn one_gate_per_question_while_it_is_held_and_none_kept_after() {
        let gates = AnswerGates::default();
        let names = vec!["a".to_owned()];
        let held = gates.gate(&names, 1);
        assert!(std::sync::Arc::ptr_eq(&held, &gates.gate(&names, 1)));
        assert!(!std::sync::Arc::ptr_eq(&held, &gates.gate(&names, 2)));
        drop(held);
        for n in 0..2000 {
            drop(gates.gate(&[n.to_string()], 1));
        }
        let kept = gates
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        assert!(kept <= 1024, "{kept} gates kept");
    }
}
