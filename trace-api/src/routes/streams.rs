//! WebSocket subscriptions of the EPCIS 2.0 REST binding: `GET /queries/{name}/events?stream=true`
//! with `Upgrade: websocket` (a credential that may `subscribe`). From the checkpoint the
//! connection starts at, each event newly recorded that the named query matches is sent once, in
//! log order, as a text message holding an `EPCISQueryDocument` (at most
//! `subscriptions.events_per_delivery` events a message), each recorded in the access log before
//! it is sent (method `PUSH`).
//!
//! The messages are the response body's stream: actix asks for the next one only when the socket
//! has taken the last, so a client that reads slowly slows its own stream and holds no more than
//! one message in memory. The client's frames are read by a task of their own: a ping is answered
//! with a pong, a close with a close; a client that sends more control frames than the stream
//! takes is cut off. The credential and the named query are read again before each message, and
//! every 5 s while there is nothing to send: a revoked or expired credential closes the stream
//! (`1008`, saying why), a deleted named query too (`1000`).
//! Streams are bounded per credential and per process (`subscriptions.max_streams`). What a
//! stream's rounds load is charged to its client's byte rate (`limits.answer_bytes_per_second`),
//! as the answers to its requests are: a backlog is sent no faster than that, and a round that
//! fails (the database unreachable) is tried again 2, 4, 8, ... intervals later, at most a minute.
//!
//! A stream starts at the newest checkpoint, or with `initialRecordTime` at the first entry
//! recorded then (as a webhook subscription does). A **scheduled** WebSocket subscription gives
//! the schedule's fields (`second`, `minute`, `hour`, `dayOfMonth`, `month`, `dayOfWeek`, read by
//! [`QuerySchedule`]) instead of `stream=true`: at each time they name (rounds at least
//! `subscriptions.min_schedule_interval` apart), the new matching events up to the newest
//! checkpoint of the round's start, each once, and with `reportIfEmpty=true` one empty document
//! when a round found nothing ([`Scheduled`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_http::ws::{self, CloseCode, CloseReason, Codec, Frame, Message};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder as _, Encoder as _};

use epcis::query::{EventQuery, QuerySchedule};
use registry::Permission;
use serde_json::{Map, Value};

use crate::problem::{EpcisException, Problem};
use crate::startup::AppState;

/// The query schedule's parameters (a scheduled WebSocket subscription's).
const SCHEDULE: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "dayOfMonth",
    "month",
    "dayOfWeek",
];

/// The largest frame a client may send (its frames are control frames).
const MAX_CLIENT_FRAME: usize = 4096;

/// How many control frames of a client wait for the stream to answer them before it is cut off.
const CONTROL_QUEUE: usize = 8;

/// How often a stream with nothing new to send reads its credential and named query again (one
/// with something new reads them before each message).
const RECHECK_IDLE: Duration = Duration::from_secs(5);

/// How long a stream with nothing to send stays silent before it pings the client.
const PING_AFTER: Duration = Duration::from_secs(30);

/// The longest wait between rounds of a stream whose rounds fail (the database or the registry
/// unreachable): 2, 4, 8, ... intervals up to this, so that hundreds of streams do not ask a
/// failing database every second.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// The streams open in this process, by credential.
#[derive(Debug)]
pub struct Streams {
    per_credential: usize,
    most: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream's place, given back when dropped.
struct Permit {
    streams: Arc<Streams>,
    credential: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self
            .streams
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.credential) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.credential);
            }
        }
    }
}

impl Streams {
    pub fn new(per_credential: usize, most: usize) -> Arc<Self> {
        Arc::new(Self {
            per_credential,
            most,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more stream of `credential`, if there is one.
    fn admit(self: &Arc<Self>, credential: &str) -> Result<Permit, Problem> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.values().sum::<usize>() >= self.most {
            return Err(Problem::Unavailable(format!(
                "this service keeps {} WebSocket streams open, the most: try again later",
                self.most
            )));
        }
        let count = open.entry(credential.to_owned()).or_default();
        if *count >= self.per_credential {
            return Err(Problem::TooMuch(format!(
                "this credential keeps {} WebSocket streams open, the most: close one",
                self.per_credential
            )));
        }
        *count += 1;
        Ok(Permit {
            streams: self.clone(),
            credential: credential.to_owned(),
        })
    }
}

/// Whether the request asks for a WebSocket subscription (an `Upgrade` header, or `stream`
/// among its parameters): such a request is answered by [`subscribe`], any other by the query.
pub(super) fn asks_to_stream(request: &HttpRequest) -> bool {
    request.headers().contains_key(header::UPGRADE)
        || request
            .query_string()
            .split('&')
            .any(|pair| pair == "stream" || pair.starts_with("stream="))
}

/// `GET /queries/{name}/events?stream=true`, upgraded to a WebSocket.
pub(super) async fn subscribe(
    request: HttpRequest,
    name: String,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
    // The binding's exception for a subscription's controls it cannot keep.
    let controls = |why: String| Problem::Epcis(EpcisException::SubscriptionControls, why);
    let access =
        super::query::authenticate_binding(&request, &state, Permission::Subscribe).await?;
    let log = state.access_log.clone().ok_or(Problem::Unrecorded(None))?;
    let given = super::query::parameters(&request)?;
    let (mut stream, mut fields, mut report_if_empty, mut initial) =
        (false, Map::new(), None, None);
    for (parameter, value) in &given {
        let again = || controls(format!("{parameter} is given twice"));
        match parameter.as_str() {
            "stream" if value == "true" => stream = true,
            "stream" => {
                return Err(controls(format!(
                    "stream={value} subscribes to nothing: stream=true streams the named query's new events over a WebSocket"
                )));
            }
            field if SCHEDULE.contains(&field) => {
                if fields
                    .insert(field.to_owned(), Value::String(value.clone()))
                    .is_some()
                {
                    return Err(again());
                }
            }
            "reportIfEmpty" => {
                let flag = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(controls("reportIfEmpty is true or false".to_owned())),
                };
                if report_if_empty.replace(flag).is_some() {
                    return Err(again());
                }
            }
            "initialRecordTime" => {
                let at = super::subscriptions::initial_record_time(value)?;
                if initial.replace(at).is_some() {
                    return Err(again());
                }
            }
            other => {
                return Err(bad(format!(
                    "{other} is not a parameter of a WebSocket subscription: it takes stream=true \
                     or a schedule, reportIfEmpty and initialRecordTime (the rest is the named \
                     query's)"
                )));
            }
        }
    }
    let schedule = match fields.is_empty() {
        true => None,
        false => Some(QuerySchedule::parse(&fields).map_err(|error| controls(error.to_string()))?),
    };
    match (stream, &schedule) {
        (true, Some(_)) => {
            return Err(controls(
                "a WebSocket subscription is a stream (stream=true: each new matching event as \
                 it is recorded) or scheduled (second, minute, hour, dayOfMonth, month, \
                 dayOfWeek: the new matching events at the times they name), not both"
                    .to_owned(),
            ));
        }
        (false, None) => {
            return Err(controls(
                "a WebSocket subscription gives stream=true (each new matching event as it is \
                 recorded) or a schedule (second, minute, hour, dayOfMonth, month, dayOfWeek)"
                    .to_owned(),
            ));
        }
        (true, None) if report_if_empty == Some(true) => {
            return Err(controls(
                "reportIfEmpty: a stream sends what it finds as it is recorded, so it has no \
                 empty report to send; a scheduled subscription takes it"
                    .to_owned(),
            ));
        }
        _ => {}
    }
    let least = state.subscriptions.min_schedule_interval;
    if let Some(schedule) = &schedule {
        super::subscriptions::check_interval(schedule, least)?;
    }
    ws::verify_handshake(request.head()).map_err(|error| {
        bad(format!(
            "stream=true is a WebSocket subscription, and this request is not its handshake: {error}"
        ))
    })?;
    let key = request
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| bad("the handshake has no Sec-WebSocket-Key".to_owned()))?;
    let accept = HeaderValue::from_bytes(&ws::hash_key(key.as_bytes()))
        .map_err(|error| Problem::internal(&error))?;
    let pairs = super::queries::stored(&state, &access, &name).await?;
    let query = EventQuery::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(|error| bad(format!("the named query: {error}")))?;
    let permit = state.streams.admit(access.token.as_str())?;
    // From the newest checkpoint on (a log with none yet: its first entry), or from the first
    // entry recorded at initialRecordTime.
    let from = super::subscriptions::start_leaf(&state, initial).await?;
    // A scheduled one's first round is at the first time its schedule names from now on.
    let scheduled = schedule.map(|schedule| Scheduled {
        due: schedule.next_after(super::subscriptions::unix_now().saturating_sub(1)),
        schedule,
        report_if_empty: report_if_empty.unwrap_or(false),
        least,
        until: None,
        reported: false,
    });
    let (control, controls) = mpsc::channel(CONTROL_QUEUE);
    actix_web::rt::spawn(read_frames(payload, control));
    state.metrics.stream_opened();
    let pump = Pump {
        state: state.clone(),
        log,
        client: super::items::client(&request),
        credential: access.token.as_str().to_owned(),
        name,
        query,
        from,
        controls,
        scheduled,
        codec: Codec::new(),
        closed: false,
        idle: Duration::ZERO,
        // The first round is at once: a backlog (initialRecordTime) starts without waiting.
        behind: true,
        checked: std::time::Instant::now(),
        failures: 0,
        owed: Duration::ZERO,
        _permit: permit,
    };
    let frames = futures_util::stream::unfold(pump, |mut pump| async move {
        let frame = pump.next().await?;
        Some((Ok::<Bytes, Infallible>(frame), pump))
    });
    Ok(HttpResponse::build(StatusCode::SWITCHING_PROTOCOLS)
        .upgrade("websocket")
        .insert_header((header::SEC_WEBSOCKET_ACCEPT, accept))
        .streaming(frames))
}

/// What the client's frames ask of the stream.
enum Control {
    Pong(Bytes),
    Close(Option<CloseReason>),
}

/// Reads the client's frames until it closes, goes away, breaks the protocol or floods.
async fn read_frames(mut payload: web::Payload, control: mpsc::Sender<Control>) {
    let mut codec = Codec::new().max_size(MAX_CLIENT_FRAME);
    let mut buffer = BytesMut::new();
    while let Some(Ok(chunk)) = payload.next().await {
        buffer.extend_from_slice(&chunk);
        loop {
            let wanted = match codec.decode(&mut buffer) {
                Ok(None) => break,
                Ok(Some(Frame::Ping(data))) => Control::Pong(data),
                Ok(Some(Frame::Pong(_))) => continue,
                Ok(Some(Frame::Close(reason))) => Control::Close(reason),
                Ok(Some(_)) => Control::Close(Some(CloseReason {
                    code: CloseCode::Unsupported,
                    description: Some("this stream takes no messages".to_owned()),
                })),
                Err(error) => Control::Close(Some(CloseReason {
                    code: CloseCode::Protocol,
                    description: Some(error.to_string()),
                })),
            };
            let closing = matches!(wanted, Control::Close(_));
            // More control frames waiting than the stream takes: the client is cut off.
            if control.try_send(wanted).is_err() || closing {
                return;
            }
        }
    }
}

/// One stream's state: what it follows, from where, and its client's control frames.
struct Pump {
    state: web::Data<AppState>,
    log: Arc<crate::access_log::AccessLog>,
    /// The client's address: what the stream's rounds load is charged to its byte rate
    /// (`limits.answer_bytes_per_second`), as its requests' answers are.
    client: Option<std::net::IpAddr>,
    credential: String,
    name: String,
    query: EventQuery,
    /// The leaf the next message reads from.
    from: u64,
    controls: mpsc::Receiver<Control>,
    /// A scheduled subscription's schedule and round (none: a stream).
    scheduled: Option<Scheduled>,
    codec: Codec,
    closed: bool,
    /// How long nothing was sent.
    idle: Duration,
    /// Whether the last round sent a message and left more to read (a backlog): the next is at
    /// once, not an interval later, paced by the socket's backpressure to what the client reads.
    behind: bool,
    /// When the credential and the named query were last read.
    checked: std::time::Instant,
    /// How many rounds in a row failed for a reason of the service's (see [`Retry`]).
    failures: u32,
    /// How long the client's byte rate asks the next round to wait (its answers loaded more than
    /// it has paid back).
    owed: Duration,
    _permit: Permit,
}

/// A round that could not be done now (the database, the registry or the access log did not
/// answer): the next one tries again from the same leaf, later.
struct Retry;

/// Why a round sent nothing: the stream ends, it tries again later, or it waits until the
/// client's byte rate has paid back what its answers loaded.
enum Unsent {
    Close(CloseReason),
    Retry(Retry),
    Owed(Duration),
}

impl From<Retry> for Unsent {
    fn from(retry: Retry) -> Self {
        Self::Retry(retry)
    }
}

/// A scheduled WebSocket subscription: at each time its schedule names (at least `least` after
/// its last round), a round sends, as a webhook subscription's does, every new matching event up
/// to the newest checkpoint of the round's start, in as many messages as that takes, and with
/// `report_if_empty` one empty document when it found nothing.
struct Scheduled {
    schedule: QuerySchedule,
    report_if_empty: bool,
    least: Duration,
    /// When the next round starts (Unix seconds; none: no time in 400 years, never).
    due: Option<i64>,
    /// The size the open round reads up to (none: no round is open).
    until: Option<u64>,
    /// Whether the open round sent something.
    reported: bool,
}

impl Scheduled {
    /// Opens a round reading up to `size` if one is due.
    fn open(&mut self, size: u64) {
        let due = self
            .due
            .is_some_and(|due| super::subscriptions::unix_now() >= due);
        if self.until.is_none() && due {
            self.until = Some(size);
            self.reported = false;
        }
    }

    /// Ends the open round: the next is due at the first time named from now on and at least
    /// `least` after this one was due (a round that ends late skips no time for that).
    fn close(&mut self) {
        let least = i64::try_from(self.least.as_secs()).unwrap_or(i64::MAX);
        let now = super::subscriptions::unix_now();
        self.due = self
            .schedule
            .next_round(now, self.due.unwrap_or(now), least);
        self.until = None;
    }
}

/// However the stream ends (a close, the client gone, the server stopping), it is counted closed
/// once: the body stream, and its pump with it, is dropped then.
impl Drop for Pump {
    fn drop(&mut self) {
        self.state.metrics.stream_closed();
    }
}

impl Pump {
    /// The next frame to send, encoded; `None` once the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        let interval = self.state.subscriptions.interval;
        while !self.closed {
            let wait = if self.behind {
                Duration::ZERO
            } else {
                retry_wait(interval, self.failures).max(std::mem::take(&mut self.owed))
            };
            tokio::select! {
                control = self.controls.recv() => match control {
                    Some(Control::Pong(data)) => return self.encode(Message::Pong(data)),
                    Some(Control::Close(reason)) => return self.close(reason),
                    // The client went away (or was cut off).
                    None => return self.close(None),
                },
                () = tokio::time::sleep(wait) => match self.round().await {
                    Ok(Some(text)) => {
                        self.idle = Duration::ZERO;
                        return self.encode(Message::Text(text.into()));
                    }
                    Ok(None) => {
                        self.idle += wait;
                        if self.idle >= PING_AFTER {
                            self.idle = Duration::ZERO;
                            return self.encode(Message::Ping(Bytes::new()));
                        }
                    }
                    Err(reason) => return self.close(Some(reason)),
                },
            }
        }
        None
    }

    /// The close frame that ends the stream.
    fn close(&mut self, reason: Option<CloseReason>) -> Option<Bytes> {
        self.closed = true;
        self.encode(Message::Close(reason))
    }

    fn encode(&mut self, message: Message) -> Option<Bytes> {
        let mut frame = BytesMut::new();
        match self.codec.encode(message, &mut frame) {
            Ok(()) => Some(frame.freeze()),
            Err(error) => {
                tracing::warn!(%error, "a WebSocket frame could not be encoded");
                self.closed = true;
                None
            }
        }
    }

    /// One round: the credential and the named query read again, then the events newly
    /// recorded that the query matches, as a message recorded in the access log. `Ok(None)`
    /// when there is nothing to send now (or a transient failure: the next round retries from
    /// the same leaf, after a longer wait each time in a row); `Err` with why the stream ends.
    async fn round(&mut self) -> Result<Option<String>, CloseReason> {
        let checked = self.checked;
        match self.try_round().await {
            Ok(sent) => {
                // A round that reached the database (it read the credential again, or sent)
                // ends a run of failures; one that had nothing to ask it does not.
                if sent.is_some() || self.checked != checked {
                    self.failures = 0;
                }
                Ok(sent)
            }
            Err(Unsent::Retry(Retry)) => {
                self.failures = self.failures.saturating_add(1);
                Ok(None)
            }
            Err(Unsent::Owed(wait)) => {
                self.owed = wait;
                Ok(None)
            }
            Err(Unsent::Close(reason)) => Err(reason),
        }
    }

    async fn try_round(&mut self) -> Result<Option<String>, Unsent> {
        self.behind = false;
        let state = &self.state;
        let view = state.views.latest(&state.store).await.map_err(|_| Retry)?;
        let size = view.size().get();
        // What this round may read up to: for a stream, all there is; for a scheduled one,
        // what there was when its round opened, or nothing between rounds.
        let until = match &mut self.scheduled {
            None => Some(size),
            Some(scheduled) => {
                scheduled.open(size);
                scheduled.until
            }
        };
        // Nothing to send: the credential and the query are read again only now and then.
        let idle = match (&self.scheduled, until) {
            // Between a scheduled one's rounds.
            (_, None) => true,
            // A stream with nothing new.
            (None, Some(until)) => until <= self.from,
            // A round is open: it goes on, or ends.
            (Some(_), Some(_)) => false,
        };
        if idle && self.checked.elapsed() < RECHECK_IDLE {
            return Ok(None);
        }
        self.checked = std::time::Instant::now();
        let access = match super::subscriptions::access_of(state, &self.credential).await {
            Ok(access) => access,
            Err(super::subscriptions::Turn::Paused(why)) => {
                return Err(Unsent::Close(CloseReason {
                    code: CloseCode::Policy,
                    description: Some(why),
                }));
            }
            Err(_) => return Err(Retry.into()),
        };
        match super::queries::stored(state, &access, &self.name).await {
            Ok(_) => {}
            Err(Problem::Epcis(EpcisException::NoSuchName, why)) => {
                return Err(Unsent::Close(CloseReason {
                    code: CloseCode::Normal,
                    description: Some(why),
                }));
            }
            Err(_) => return Err(Retry.into()),
        }
        let Some(until) = until else {
            return Ok(None);
        };
        if until <= self.from {
            // A scheduled round that read all it reads is over, and reports once if it found
            // nothing and is asked to.
            let Some(scheduled) = &mut self.scheduled else {
                return Ok(None);
            };
            let empty = scheduled.report_if_empty && !scheduled.reported;
            if !empty {
                scheduled.close();
                return Ok(None);
            }
            let body = super::subscriptions::query_document(&self.name, None, &[]);
            let target = format!("/queries/{}/events", self.name);
            super::subscriptions::record_push(&self.log, &access, target, &body, 0, size)
                .await
                .map_err(|_| Retry)?;
            state.metrics.access_recorded();
            scheduled.close();
            return Ok(Some(body));
        }
        // A backlog read as fast as the client takes it is paced by the client's byte rate, as
        // its requests' answers are: the stream waits while the client owes.
        if let Err(seconds) = state.budget.admit(self.client, std::time::Instant::now()) {
            return Err(Unsent::Owed(Duration::from_secs(seconds.max(1))));
        }
        let per_message = state.subscriptions.events_per_delivery;
        let (events, next) = super::query::page_in_log_order(
            state,
            &view,
            (&access, self.client),
            &self.query,
            self.from,
            per_message,
        )
        .await
        .map_err(|_| Retry)?;
        let to = next.unwrap_or(size).min(size);
        if events.is_empty() {
            self.from = to;
            return Ok(None);
        }
        let count = events.len();
        let body = super::subscriptions::query_document(&self.name, None, &events);
        // Recorded before it leaves, as any answer to a credential.
        let target = match self.scheduled {
            None => format!("/queries/{}/events?stream=true", self.name),
            Some(_) => format!("/queries/{}/events", self.name),
        };
        super::subscriptions::record_push(&self.log, &access, target, &body, count, size)
            .await
            .map_err(|_| Retry)?;
        state.metrics.access_recorded();
        self.from = to;
        // Sent, with more to read: the next round at once (a round that read without finding,
        // an interval later: a query that matches little is not a loop over the log).
        self.behind = to < until;
        if let Some(scheduled) = &mut self.scheduled {
            scheduled.reported = true;
        }
        Ok(Some(body))
    }
}

/// The wait before the next round of a stream after `failures` failed rounds in a row: the
/// interval, then 2, 4, 8, ... times it, at most [`MAX_RETRY_WAIT`] (or the interval, if longer).
fn retry_wait(interval: Duration, failures: u32) -> Duration {
    let times = 1u32 << failures.min(16);
    interval
        .saturating_mul(times)
        .min(MAX_RETRY_WAIT.max(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_rounds_wait_longer_and_longer_up_to_a_minute() {
        let second = Duration::from_secs(1);
        assert_eq!(retry_wait(second, 0), second);
        assert_eq!(retry_wait(second, 1), 2 * second);
        assert_eq!(retry_wait(second, 3), 8 * second);
        assert_eq!(retry_wait(second, 40), MAX_RETRY_WAIT);
        assert_eq!(retry_wait(2 * MAX_RETRY_WAIT, 3), 2 * MAX_RETRY_WAIT);
    }

    #[test]
    fn streams_are_bounded_per_credential_and_per_process_and_give_back_their_place() {
        let streams = Streams::new(2, 3);
        let a1 = streams.admit("a").unwrap();
        let _a2 = streams.admit("a").unwrap();
        assert!(matches!(streams.admit("a"), Err(Problem::TooMuch(_))));
        let _b1 = streams.admit("b").unwrap();
        assert!(matches!(streams.admit("c"), Err(Problem::Unavailable(_))));
        drop(a1);
        let _c1 = streams.admit("c").unwrap();
        assert_eq!(streams.open.lock().unwrap().values().sum::<usize>(), 3);
    }
}
