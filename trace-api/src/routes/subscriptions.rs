//! Subscriptions to named queries, delivered by webhook (EPCIS 2.0 REST binding):
//! `POST /queries/{name}/subscriptions` with `{"dest": "https://...", "stream": true,
//! "signatureToken": "...", "reportIfEmpty": false}` (`201`), `GET` of the list or of one
//! (`/queries/{name}/subscriptions/{id}`), `DELETE` of one.
//!
//! A stream subscription (`"stream": true`) is delivered as soon as a checkpoint covers new
//! entries. A scheduled one (`"schedule": {"hour": "1", "minute": "5"}`, read by
//! [`QuerySchedule`]: every field given must match, in UTC) is due at each time its schedule
//! names, and then delivers everything its query matches from where its last delivery ended up
//! to the newest checkpoint, in as many deliveries as that takes, before it waits for the next
//! time: never the same event twice, whatever the schedule (scheduled queries that resend what
//! they sent are a known complaint about other repositories). With `reportIfEmpty`, a round that
//! found nothing sends one empty document. A time missed while no process ran is made up once,
//! at start. Rounds are at least `[subscriptions] min_schedule_interval` apart (default 30 s): a
//! schedule that names times closer together in the two months ahead is refused, and one close
//! only later (at a month's end, say) waits that long after its last round, so that no
//! credential makes the service query, record and send once a second. The binding's
//! `SubscriptionControlsException` answers a request with neither `"stream": true` nor a
//! `schedule`, with both, with a schedule that is not one, or with one finer than that.
//!
//! A subscription starts at the newest checkpoint, or with `initialRecordTime` at the first entry
//! recorded at or after it (less `[subscriptions] record_time_skew`: entries recorded a little
//! before it may be delivered too, none after it is left out), and keeps `next_leaf`, the ledger
//! leaf its next delivery reads from (`sql/V30__subscriptions.sql`). Each process's
//! `[subscriptions] workers` take due subscriptions (looking again every `[subscriptions]
//! interval` while none is due). A worker claims one in a short transaction (`sql/V39`): the
//! claim is its credential's (`subscription_claims`: the subscription, a lease id, and when it
//! lapses, the receiver's `timeout` and 30 s after), claims are made one at a time across
//! processes (an advisory lock), and no subscription of a credential holding a claim is claimed.
//! So one credential's receivers hold up one worker of the whole deployment at most, and a
//! receiver that is slow to answer, or never answers, holds up its own credential's deliveries
//! and no one else's; deleting the subscription (or its named query) does not end the claim
//! before the delivery does, so deleting and making subscriptions again frees no turn early. A
//! delivery that took long makes its subscription wait as long again, so that receivers
//! answering just before `timeout` hold a worker half the time at most. The delivery is made
//! with no transaction open and no database connection held, so a request that changes or
//! deletes the credential's subscriptions or named queries meanwhile goes ahead at once (the
//! delivery's outcome then changes nothing). Each delivery is the named query's next page in log
//! order from `next_leaf`, as its token may read it now (a revoked or expired token's
//! subscription waits, delivering nothing), is recorded in the access log (method `PUSH`),
//! signed, and `POST`ed to `dest`. Only a `2xx` moves `next_leaf` past what was delivered,
//! recorded while the claim holds (the record deletes the claim matching its lease id, and
//! changes the subscription only if it did): a failed or unanswered delivery is tried again
//! (after 1, 2, 4, ... seconds, at most 5 minutes apart). A delivery is not sent once the
//! receiver's timeout and the record after it no longer fit in the claim (the receiver's time is
//! cut to what is left of it, should the send itself wait), and a stopping process sends nothing
//! new but lets its workers finish the sends under way, so that no two sends of a range overlap.
//! A delivery being made when its subscription is deleted may still be sent (its outcome then
//! changes nothing). A process killed
//! between the receiver's `2xx` and that record leaves its claim to lapse, and the next claim
//! sends the same range again, with the same events at the same leaf indexes (a receiver keeps
//! the newest `to` it saw, or the leaf indexes, to drop what it has). Nothing is skipped: the
//! pages follow the log.
//!
//! Each delivery is an `EPCISQueryDocument` (its `queryResults` naming the query and the
//! subscription), with:
//! - `GS1-Signature`: base64 of a C2SP signed note, signed with the access log's key (published at
//!   `/access-log/checkpoint`'s signature line, `access_log.signing_key`), whose text is
//!   `tagtrail.dev/subscription-delivery/v1`, the subscription id, `<from> <to>` (the leaf
//!   range the delivery covers) and the body's SHA-256 in hex, one per line;
//! - `GS1-Signature-HMAC-SHA256`: the HMAC-SHA-256 of the body under the subscription's
//!   `signatureToken`, hex, when it was given one;
//! - `TagTrail-Delivery-Range: <from> <to>`.
//!
//! Where deliveries may go: with `[subscriptions] allowed_hosts`, those hosts only; without,
//! `https` to a host whose every address is public (no loopback, private, link-local, shared,
//! documentation or multicast address), checked when the subscription is made and before each
//! delivery, so that a token holder cannot aim the service at the operator's own network. A
//! delivery connects to the addresses checked, through no proxy: the name is not looked up a
//! second time, which a name that answers a public address and then a private one ("DNS
//! rebinding") would use. Redirects are not followed.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use base64::Engine as _;
use futures_util::FutureExt as _;
use hmac::{KeyInit as _, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio_util::sync::CancellationToken;

use epcis::query::{EventQuery, Limit, QuerySchedule};
use ledger::TreeSize;
use registry::{Access, AccessRefused, Permission, TokenId};

use super::query::Shown;
use crate::access_log::hex;
use crate::config::SubscriptionsConfig;
use crate::grants::GrantRefused;
use crate::problem::{EpcisException, Problem};
use crate::startup::AppState;

/// The most bytes of a request to make one.
const MAX_SUBSCRIPTION_REQUEST: usize = 8 * 1024;
/// The longest `dest`.
const MAX_DEST: usize = 2048;
/// The longest `signatureToken`.
const MAX_SIGNATURE_TOKEN: usize = 256;
/// The longest wait between attempts of a failing delivery.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long a subscription whose token cannot read now waits before it is looked at again.
const PAUSE: Duration = Duration::from_secs(60);
/// The first line of a delivery's signed note.
pub const DELIVERY_NOTE: &str = "tagtrail.dev/subscription-delivery/v1";

/// The columns a subscription is shown with.
const SHOWN: &str = "subscription_id::text, dest, report_if_empty, next_leaf, \
     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
     to_char(last_notified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
     failures, last_failure, schedule";

/// `/queries/{name}/subscriptions`: `GET` lists, `POST` makes one.
pub(super) fn collection(path: &str) -> Resource {
    super::read_write(
        path,
        list,
        actix_web::http::Method::POST,
        create,
        "GET, HEAD, POST, OPTIONS",
    )
}

/// `/queries/{name}/subscriptions/{id}`: `GET` gives it, `DELETE` ends it.
pub(super) fn item(path: &str) -> Resource {
    super::read_write(
        path,
        one,
        actix_web::http::Method::DELETE,
        delete,
        "GET, HEAD, DELETE, OPTIONS",
    )
}

async fn create(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access =
        super::query::authenticate_binding(&request, &state, Permission::Subscribe).await?;
    super::query::access_log(&state)?;
    let name = path.into_inner();
    let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
    // The named query must be the caller's, and one whose pages follow the log.
    let pairs = super::queries::stored(&state, &access, &name).await?;
    let query = EventQuery::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(|error| Problem::Internal(format!("a stored named query: {error}")))?;
    if query.order().is_some() || matches!(query.limit(), Some(Limit::AtMost(_))) {
        return Err(bad(
            "a subscription delivers new events in log order: its named query may have no \
             orderBy, eventCountLimit or maxEventCount"
                .to_owned(),
        ));
    }
    let body = super::query::read_body(&request, body, MAX_SUBSCRIPTION_REQUEST).await?;
    let asked = read_request(&body)?;
    if let Some(schedule) = &asked.schedule {
        check_interval(schedule, state.subscriptions.min_schedule_interval)?;
    }
    check_dest(&asked.dest, &state.subscriptions)
        .await
        .map_err(|why| bad(format!("dest: {why}")))?;
    let start = start_leaf(&state, asked.initial_record_time).await?;
    let start = i64::try_from(start).unwrap_or(i64::MAX);
    // A scheduled one is first due at the first time its schedule names.
    let schedule = asked
        .schedule
        .as_ref()
        .map(|schedule| Value::Object(schedule.to_json()).to_string());
    #[allow(clippy::cast_precision_loss)] // seconds of the next 400 years: exact in an f64
    let first_time = asked
        .schedule
        .as_ref()
        .and_then(|schedule| next_time(schedule, unix_now() as f64, Duration::ZERO));
    let mut client = super::queries::client(&state).await?;
    let most = i64::from(state.subscriptions.max_per_token);
    // Counted under the credential's lock: subscriptions asked for at once are not all let in.
    let transaction =
        super::queries::holding_credential(&mut client, access.token.as_str()).await?;
    let row = transaction
        .query_opt(
            &format!(
                "INSERT INTO subscriptions \
                 (token_id, query_name, dest, signature_token, report_if_empty, next_leaf, \
                  schedule, next_attempt_at) \
                 SELECT $1, $2, $3, $4, $5, $6, $8, coalesce(to_timestamp($9), now()) \
                 WHERE (SELECT count(*) FROM subscriptions WHERE token_id = $1) < $7 \
                 RETURNING {SHOWN}"
            ),
            &[
                &access.token.as_str(),
                &name,
                &asked.dest,
                &asked
                    .signature_token
                    .as_ref()
                    .map(|token| token.expose_secret()),
                &asked.report_if_empty,
                &start,
                &most,
                &schedule,
                &first_time,
            ],
        )
        .await
        .map_err(|error| Problem::unavailable(&error))?
        .ok_or_else(|| {
            Problem::TooMuch(format!(
                "this credential keeps {most} subscriptions, the most: delete one"
            ))
        })?;
    transaction
        .commit()
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    let shown = shown(&row);
    let location = format!(
        "/queries/{name}/subscriptions/{}",
        shown["subscriptionID"].as_str().unwrap_or_default()
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("GS1-EPCIS-Version", "2.0.0"))
        .content_type("application/json")
        .body(shown.to_string()))
}

async fn list(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access =
        super::query::authenticate_binding(&request, &state, Permission::Subscribe).await?;
    let name = path.into_inner();
    let page = super::queries::ListPage::of(&request)?;
    // In the order they were made: a page ends at its last one's creation (microseconds) and id.
    let after = match &page.after {
        None => None,
        Some(key) => Some(
            key.split_once(' ')
                .and_then(|(micros, id)| Some((micros.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| {
                    Problem::Epcis(
                        EpcisException::QueryParameter,
                        "nextPageToken is not one this list gave: ask for its first page again"
                            .to_owned(),
                    )
                })?,
        ),
    };
    super::queries::stored(&state, &access, &name).await?;
    let client = super::queries::client(&state).await?;
    let rows = client
        .query(
            &format!(
                "SELECT {SHOWN}, {CREATED_MICROS} FROM subscriptions \
                 WHERE token_id = $1 AND query_name = $2 \
                   AND ($3::bigint IS NULL OR ({CREATED_MICROS}, subscription_id::text) > ($3, $4)) \
                 ORDER BY created_at, subscription_id::text LIMIT $5"
            ),
            &[
                &access.token.as_str(),
                &name,
                &after.as_ref().map(|(micros, _)| *micros),
                &after.as_ref().map(|(_, id)| id.as_str()),
                &page.read(),
            ],
        )
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    let (rows, more) = page.split(&rows);
    let next = rows.last().filter(|_| more).map(|row| {
        format!(
            "{} {}",
            row.get::<_, i64>(SHOWN_COLUMNS),
            row.get::<_, String>(0)
        )
    });
    let shown: Vec<Value> = rows.iter().map(shown).collect();
    let mut answer = json_answer(&Value::Array(shown));
    if let Some(link) = page.next_link(&request, next.as_deref()) {
        answer.headers_mut().insert(header::LINK, link);
    }
    Ok(answer)
}

/// How many columns [`SHOWN`] reads.
const SHOWN_COLUMNS: usize = 9;
/// A subscription's creation time in Unix microseconds (its time's precision): where a page of a
/// list of them ends.
const CREATED_MICROS: &str = "(extract(epoch FROM created_at) * 1000000)::bigint";

async fn one(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access =
        super::query::authenticate_binding(&request, &state, Permission::Subscribe).await?;
    let (name, id) = path.into_inner();
    let client = super::queries::client(&state).await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT {SHOWN} FROM subscriptions WHERE token_id = $1 AND query_name = $2 \
                 AND subscription_id::text = $3"
            ),
            &[&access.token.as_str(), &name, &id],
        )
        .await
        .map_err(|error| Problem::unavailable(&error))?
        .ok_or_else(|| no_such(&name, &id))?;
    Ok(json_answer(&shown(&row)))
}

async fn delete(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access =
        super::query::authenticate_binding(&request, &state, Permission::Subscribe).await?;
    let (name, id) = path.into_inner();
    let mut client = super::queries::client(&state).await?;
    // One being delivered goes at once (its delivery's outcome is then not recorded).
    let transaction =
        super::queries::holding_credential(&mut client, access.token.as_str()).await?;
    let deleted = transaction
        .execute(
            "DELETE FROM subscriptions WHERE token_id = $1 AND query_name = $2 \
             AND subscription_id::text = $3",
            &[&access.token.as_str(), &name, &id],
        )
        .await
        .map_err(|error| super::queries::contended(&error))?;
    transaction
        .commit()
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    if deleted == 0 {
        return Err(no_such(&name, &id));
    }
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

fn no_such(name: &str, id: &str) -> Problem {
    Problem::Epcis(
        EpcisException::NoSuchName,
        format!("this credential's named query {name:?} has no subscription {id:?}"),
    )
}

/// A subscription as shown (never its `signatureToken`).
fn shown(row: &tokio_postgres::Row) -> Value {
    let schedule = row
        .get::<_, Option<String>>(8)
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    let mut shown = json!({
        "subscriptionID": row.get::<_, String>(0),
        "dest": row.get::<_, String>(1),
        "stream": schedule.is_none(),
        "reportIfEmpty": row.get::<_, bool>(2),
        "nextLeaf": row.get::<_, i64>(3),
        "createdAt": row.get::<_, String>(4),
        "failures": row.get::<_, i32>(6),
    });
    if let Some(at) = row.get::<_, Option<String>>(5) {
        shown["lastNotifiedAt"] = json!(at);
    }
    if let Some(why) = row.get::<_, Option<String>>(7) {
        shown["lastFailure"] = json!(why);
    }
    if let Some(schedule) = schedule {
        shown["schedule"] = schedule;
    }
    shown
}

/// The leaf a subscription starts at: the newest checkpoint's size (a log with none: its start),
/// so that what is logged from now on is delivered; with `initial_record_time` (Unix
/// nanoseconds), the first entry recorded then, less `[subscriptions] record_time_skew`.
pub(super) async fn start_leaf(
    state: &AppState,
    initial_record_time: Option<i128>,
) -> Result<u64, Problem> {
    match state.views.latest(&state.store).await {
        Ok(view) => match initial_record_time {
            Some(at) => {
                let skew = i128::try_from(state.subscriptions.record_time_skew.as_nanos())
                    .unwrap_or(i128::MAX);
                first_recorded_at(&view, at.saturating_sub(skew)).await
            }
            None => Ok(view.size().get()),
        },
        Err(crate::reader::ViewError::NoCheckpoint) => Ok(0),
        Err(error) => Err(error.into()),
    }
}

/// Reads an `initialRecordTime`: a date-time with its offset, not in the future (Unix
/// nanoseconds); why not, as `QueryParameterException`.
pub(super) fn initial_record_time(text: &str) -> Result<i128, Problem> {
    let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
    let at = epcis::document::Timestamp::parse(text)
        .map_err(|error| {
            bad(format!(
                "initialRecordTime {:?} is not a date-time with its offset: {error}",
                truncated(text)
            ))
        })?
        .unix_nanos();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i128::try_from(since.as_nanos()).unwrap_or(i128::MAX)
        });
    if at > now {
        return Err(bad(
            "initialRecordTime is in the future: leave it out to start at the newest checkpoint"
                .to_owned(),
        ));
    }
    Ok(at)
}

/// How far ahead a schedule's times are looked at for two closer together than the least
/// interval: two turns of a month and more (a schedule close only at a month's end is found).
const SCHEDULE_HORIZON: i64 = 62 * 86_400;

/// Now, in whole Unix seconds.
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Refuses a schedule that names two times less than `least` apart in the months ahead: the
/// service would fire it less often than it asks. (One close only further ahead is held to
/// `least` when it fires: see [`next_time`].)
pub(super) fn check_interval(schedule: &QuerySchedule, least: Duration) -> Result<(), Problem> {
    let least = i64::try_from(least.as_secs()).unwrap_or(i64::MAX);
    match schedule.fires_closer_than(unix_now(), least, SCHEDULE_HORIZON) {
        None => Ok(()),
        Some((first, then)) => Err(Problem::Epcis(
            EpcisException::SubscriptionControls,
            format!(
                "the schedule names times {} s apart (the first at {}); a scheduled \
                 subscription is delivered at most once every {least} s here: name times \
                 further apart, or subscribe with \"stream\": true for each new event as \
                 soon as a checkpoint covers it",
                then - first,
                epcis::document::Timestamp::from_unix_nanos(i128::from(first) * 1_000_000_000)
                    .map_or_else(|| first.to_string(), |at| at.to_string())
            ),
        )),
    }
}

/// The first time `schedule` names after now and at least `least` after `due` (Unix seconds,
/// the time the round that ends was due): the next round's. Counted from when the round was due,
/// not from when it ended, a round that ends late skips no time of a schedule the least interval
/// allows; and whatever the schedule, rounds are that far apart. After now to the second, so
/// that a round's due time (kept in `fire_started_at`) is later than every delivery of the round
/// before: whether a round has delivered is told by `last_notified_at >= fire_started_at`.
fn next_time(schedule: &QuerySchedule, due: f64, least: Duration) -> Option<f64> {
    let least = i64::try_from(least.as_secs()).unwrap_or(i64::MAX);
    #[allow(clippy::cast_possible_truncation)] // seconds of the next 400 years
    let due = due.floor() as i64;
    #[allow(clippy::cast_precision_loss)] // seconds of the next 400 years: exact in an f64
    schedule
        .next_round(unix_now().saturating_add(1), due, least)
        .map(|at| at as f64)
}

fn json_answer(body: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("GS1-EPCIS-Version", "2.0.0"))
        .content_type("application/json")
        .body(body.to_string())
}

/// The first leaf of `view`'s tree recorded at or after `at` (Unix nanoseconds), by bisection
/// over the leaf records' record times; the tree's size when none is. Record times rise with the
/// leaves but for entries accepted at once ([`SubscriptionsConfig::record_time_skew`], which the
/// caller takes off `at`): the leaf before the one found was recorded before `at`, so every leaf
/// recorded at or after `at` plus that skew is at or after it.
async fn first_recorded_at(view: &crate::reader::View, at: i128) -> Result<u64, Problem> {
    let (mut low, mut high) = (0, view.size().get());
    while low < high {
        let middle = low + (high - low) / 2;
        let leaf = ledger::LeafIndex::new(middle).map_err(|error| Problem::internal(&error))?;
        let entry = view.store.entry(leaf).await?.ok_or_else(|| {
            Problem::Internal(format!(
                "entry {middle} of the checkpoint's tree is not stored"
            ))
        })?;
        let recorded = i128::from(entry.record.captured_at().as_millis()) * 1_000_000;
        if recorded < at {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok(low)
}

/// What a request to subscribe asks.
struct Asked {
    dest: String,
    /// `schedule`, for a scheduled subscription (none: a stream).
    schedule: Option<QuerySchedule>,
    signature_token: Option<SecretString>,
    report_if_empty: bool,
    /// `initialRecordTime`, in Unix nanoseconds.
    initial_record_time: Option<i128>,
}

fn read_request(body: &[u8]) -> Result<Asked, Problem> {
    let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
    let request: Value = serde_json::from_slice(body)
        .map_err(|error| bad(format!("the request body is not JSON: {error}")))?;
    let object = request.as_object().ok_or_else(|| {
        bad("the request body is not a JSON object: send {\"dest\": \"https://...\", \"stream\": true}".to_owned())
    })?;
    for key in object.keys() {
        match key.as_str() {
            "dest" | "stream" | "schedule" | "signatureToken" | "reportIfEmpty"
            | "initialRecordTime" => {}
            other => {
                return Err(bad(format!(
                    "the request body has member {other:?}; a subscription has dest, stream or \
                     schedule, signatureToken, reportIfEmpty and initialRecordTime"
                )));
            }
        }
    }
    let stream = match object.get("stream") {
        None => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(bad("stream is true or false".to_owned())),
    };
    let schedule = match object.get("schedule") {
        None => None,
        Some(Value::Object(schedule)) => Some(QuerySchedule::parse(schedule).map_err(|error| {
            Problem::Epcis(EpcisException::SubscriptionControls, error.to_string())
        })?),
        Some(_) => {
            return Err(Problem::Epcis(
                EpcisException::SubscriptionControls,
                "schedule is an object, such as {\"hour\": \"1\", \"minute\": \"5\"}".to_owned(),
            ));
        }
    };
    match (stream, &schedule) {
        (true, Some(_)) => {
            return Err(Problem::Epcis(
                EpcisException::SubscriptionControls,
                "a subscription is a stream (\"stream\": true: each new matching event as soon \
                 as a checkpoint covers it) or scheduled (\"schedule\": the new matching events \
                 at the times it names), not both"
                    .to_owned(),
            ));
        }
        (false, None) => {
            return Err(Problem::Epcis(
                EpcisException::SubscriptionControls,
                "a subscription gives \"stream\": true (each new matching event as soon as a \
                 checkpoint covers it) or a \"schedule\" (the new matching events at the times \
                 it names)"
                    .to_owned(),
            ));
        }
        _ => {}
    }
    let dest = object
        .get("dest")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the request body has no \"dest\" URL".to_owned()))?;
    if dest.is_empty() || dest.len() > MAX_DEST {
        return Err(bad(format!("dest is 1 to {MAX_DEST} characters")));
    }
    let signature_token = match object.get("signatureToken") {
        None => None,
        Some(Value::String(token)) if !token.is_empty() && token.len() <= MAX_SIGNATURE_TOKEN => {
            Some(SecretString::from(token.clone()))
        }
        Some(_) => {
            return Err(bad(format!(
                "signatureToken is a string of 1 to {MAX_SIGNATURE_TOKEN} characters"
            )));
        }
    };
    let report_if_empty = match object.get("reportIfEmpty") {
        None => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(bad("reportIfEmpty is true or false".to_owned())),
    };
    let initial_record_time = match object.get("initialRecordTime") {
        None => None,
        Some(Value::String(text)) => Some(initial_record_time(text)?),
        Some(_) => {
            return Err(bad(
                "initialRecordTime is a date-time string, such as 2026-01-01T00:00:00Z".to_owned(),
            ));
        }
    };
    Ok(Asked {
        dest: dest.to_owned(),
        schedule,
        signature_token,
        report_if_empty,
        initial_record_time,
    })
}

/// Whether deliveries may go to `dest` (see the module's documentation), and the addresses a
/// delivery connects to: those checked, for a host checked to be public (none: an allowed host,
/// resolved as the delivery connects); why not.
async fn check_dest(
    dest: &str,
    config: &SubscriptionsConfig,
) -> Result<Option<Vec<SocketAddr>>, String> {
    let uri: ureq::http::Uri = dest
        .parse()
        .map_err(|_| format!("{:?} is not a URL", truncated(dest)))?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if !matches!(scheme, "http" | "https") {
        return Err("the URL is not http:// or https://".to_owned());
    }
    let authority = uri.authority().ok_or("the URL has no host")?;
    if authority.as_str().contains('@') {
        return Err("the URL may not carry a user or password".to_owned());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if !config.allowed_hosts.is_empty() {
        return match config.allowed_hosts.iter().any(|allowed| allowed == host) {
            true => Ok(None),
            false => Err(format!(
                "{host} is not one of this service's subscriptions.allowed_hosts"
            )),
        };
    }
    if scheme != "https" {
        return Err("deliveries go over https only".to_owned());
    }
    let port = uri.port_u16().unwrap_or(443);
    let lookup = format!("{host}:{port}");
    let looked_up = tokio::task::spawn_blocking(move || {
        lookup
            .to_socket_addrs()
            .map(|addresses| addresses.take(MAX_ADDRESSES).collect())
    });
    let addresses: Vec<SocketAddr> = tokio::time::timeout(LOOKUP_TIMEOUT, looked_up)
        .await
        .map_err(|_| format!("{host} did not resolve within {LOOKUP_TIMEOUT:?}"))?
        .map_err(|error| error.to_string())?
        .map_err(|_| format!("{host} does not resolve"))?;
    if addresses.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    if let Some(private) = addresses.iter().find(|address| !is_public(&address.ip())) {
        return Err(format!(
            "{host} resolves to {}, not a public address: deliveries go to public hosts",
            private.ip()
        ));
    }
    Ok(Some(addresses))
}

/// The most addresses of a host a delivery tries, and checks.
const MAX_ADDRESSES: usize = 16;
/// How long a `dest`'s name may take to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// A resolver that answers every name with the addresses checked for it: a delivery connects
/// to what [`check_dest`] found public, never to what a second lookup of the same name says
/// (a name that resolves to a public address when checked and to a private one a moment later,
/// "DNS rebinding", reaches nothing it should not). The name still goes in `Host` and in TLS.
#[derive(Debug)]
struct Pinned(Vec<SocketAddr>);

impl ureq::unversioned::resolver::Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut addresses = self.empty();
        for address in self.0.iter().take(MAX_ADDRESSES) {
            addresses.push(*address);
        }
        match addresses.is_empty() {
            true => Err(ureq::Error::HostNotFound),
            false => Ok(addresses),
        }
    }
}

/// Whether an address is one of the public internet's.
fn is_public(address: &IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // Shared address space (RFC 6598), benchmarking (RFC 2544) and the IETF's
                // protocol assignments (192.0.0.0/24).
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let [first, second, ..] = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // IPv4-compatible (::a.b.c.d, deprecated), NAT64 (64:ff9b::/96 and
                // 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (2001::/32): each reaches an
                // IPv4 address through a translator, which may be a private one.
                || v6.segments()[..6].iter().all(|&segment| segment == 0)
                // IPv4-translated (::ffff:0:a.b.c.d, RFC 2765).
                || v6.segments()[..5] == [0, 0, 0, 0, 0xffff]
                || (first == 0x0064 && second == 0xff9b)
                || first == 0x2002
                || (first == 0x2001 && second == 0)
                // Unique local (fc00::/7), link-local (fe80::/10), site-local (fec0::/10,
                // deprecated), documentation (2001:db8::/32), discard-only (100::/64).
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (first == 0x2001 && second == 0x0db8)
                || v6.segments()[..4] == [0x0100, 0, 0, 0])
        }
    }
}

fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}

/// How much longer than its receiver's timeout a claim on a subscription lasts: the turn's query
/// and the records before and after the delivery, with room to spare.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Of [`LEASE_MARGIN`], what is kept for recording the outcome: a delivery whose query and
/// records took so long that its receiver's timeout no longer fits before it is not sent.
const RECORD_MARGIN: Duration = Duration::from_secs(10);
/// How long a worker waits to give back a claim its failed turn left.
const RELEASE_WAIT: Duration = Duration::from_secs(5);
/// The first half of the advisory lock claims are made under, one at a time across processes
/// (the second: 0), so that two never claim one credential's subscriptions at once.
const CLAIM_LOCK: i32 = 0x7474_000a;

/// Starts `[subscriptions] workers` delivery loops, which stop when `stop` is cancelled once
/// their turn is over (awaiting the handles waits for that). A turn is not cut short: it is
/// bounded by its claim, and one stopped between the receiver's answer and its record would have
/// the range sent again while the first send may still be under way.
pub(crate) fn spawn(
    state: web::Data<AppState>,
    stop: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..state.subscriptions.workers)
        .map(|_| {
            let (state, stop) = (state.clone(), stop.clone());
            tokio::spawn(async move {
                let held = Held::default();
                loop {
                    // A turn that panics (a bug) costs that turn, not the worker.
                    let turn = std::panic::AssertUnwindSafe(deliver_one(&state, &held, &stop))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| Err("a delivery panicked".to_owned()));
                    // A turn that failed after its claim (a panic, a lost connection) gives the
                    // claim back rather than leave its credential waiting until it lapses.
                    release(&state, &held).await;
                    if stop.is_cancelled() {
                        return;
                    }
                    let wait = match turn {
                        // One was taken: there may be more due now.
                        Ok(true) => continue,
                        Ok(false) => state.subscriptions.interval,
                        Err(error) => {
                            tracing::warn!(error = %error, "a subscription could not be delivered");
                            state.subscriptions.interval
                        }
                    };
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            })
        })
        .collect()
}

/// The claim a worker holds while it delivers: its credential and its lease id.
#[derive(Default)]
struct Held(std::sync::Mutex<Option<(String, String)>>);

impl Held {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<(String, String)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Gives back the claim `held` still holds, if any: its credential's subscriptions may be claimed
/// again at once (by this process or another), from where their last recorded deliveries ended.
async fn release(state: &AppState, held: &Held) {
    let Some((token, lease)) = held.slot().take() else {
        return;
    };
    let Some(log) = state.access_log.as_deref() else {
        return;
    };
    let released = tokio::time::timeout(RELEASE_WAIT, async {
        let client = log.delivery_pool().get().await.map_err(|e| e.to_string())?;
        client
            .execute(
                "DELETE FROM subscription_claims WHERE token_id = $1 AND lease_id::text = $2",
                &[&token, &lease],
            )
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    if let Ok(Err(error)) | Err(error) = released.map_err(|_| "timed out".to_owned()) {
        // Its lease lapses by itself.
        tracing::warn!(error = %error, "a credential's claim on its subscriptions was not given back");
    }
}

/// What became of one subscription's turn.
pub(super) enum Turn {
    /// Delivered (or nothing to deliver and not asked to report that): on from this leaf.
    Done { next: u64, notified: bool },
    /// The receiver did not take it (or the service could not make it): try again later.
    Failed(String),
    /// Its token cannot read now (revoked, expired, unknown): look again later.
    Paused(String),
    /// Not sent, the service stopping: nothing to record, the claim is given back.
    Abandoned,
}

/// Claims one due subscription of a credential that holds no claim (in any process), delivers it
/// with no transaction open, and records the outcome if the claim still holds; whether there was
/// one.
async fn deliver_one(
    state: &AppState,
    held: &Held,
    stop: &CancellationToken,
) -> Result<bool, String> {
    let Some(log) = state.access_log.as_deref() else {
        return Ok(false);
    };
    let view = state
        .views
        .latest(&state.store)
        .await
        .map_err(|problem| problem.to_string())?;
    let size = i64::try_from(view.size().get()).unwrap_or(i64::MAX);
    let lease = state.subscriptions.timeout + LEASE_MARGIN;
    // Before the claim's own clock starts: what is measured from it errs on the safe side.
    let claimed = std::time::Instant::now();
    let Some(row) = claim(log, size, lease).await? else {
        return Ok(false);
    };
    let id: String = row.get(0);
    let token: String = row.get(1);
    let failures: i32 = row.get(7);
    let lease_id: String = row.get(11);
    let claimed_at: f64 = row.get(12);
    *held.slot() = Some((token.clone(), lease_id.clone()));
    let subscription = Subscription {
        id: id.clone(),
        token: row.get(1),
        query: row.get(2),
        dest: row.get(3),
        signature_token: row.get::<_, Option<String>>(4).map(SecretString::from),
        report_if_empty: row.get(5),
        from: row.get::<_, i64>(6).unsigned_abs(),
        schedule: row
            .get::<_, Option<String>>(8)
            .map(|text| read_schedule(&text)),
        reported: row.get(9),
        due: row.get(10),
        // The receiver's timeout and the record after it fit in the claim.
        send_by: claimed + LEASE_MARGIN - RECORD_MARGIN,
        answered_by: claimed + lease - RECORD_MARGIN,
        stop: stop.clone(),
    };
    let started = std::time::Instant::now();
    let turn = deliver(state, log, &view, &subscription).await;
    // A delivery that took long (a receiver answering just before the timeout) waits as long
    // again before its subscription's next: such receivers hold a worker half the time at most.
    let took = started.elapsed().as_secs_f64();
    let client = log
        .delivery_pool()
        .get()
        .await
        .map_err(|error| error.to_string())?;
    // Each outcome is recorded only while the claim holds (its `lease_id`), which it gives back.
    let recorded = match turn {
        Turn::Done { next, notified } => {
            // A scheduled one with more to deliver goes on at once; caught up, it waits for
            // its next time (a stream, for the next checkpoint).
            let scheduled = &subscription.schedule;
            let round_over = next >= view.size().get();
            let next_time = match (scheduled, round_over) {
                (Some(Ok(schedule)), true) => next_time(
                    schedule,
                    subscription.due,
                    state.subscriptions.min_schedule_interval,
                ),
                _ => None,
            };
            let recorded = client
                .execute(
                    "WITH held AS (DELETE FROM subscription_claims \
                                   WHERE token_id = $10 AND lease_id::text = $8 RETURNING 1) \
                     UPDATE subscriptions SET next_leaf = $2, failures = 0, \
                     next_attempt_at = coalesce(to_timestamp($4), \
                                                clock_timestamp() + make_interval(secs => $7)), \
                     last_failure = NULL, \
                     last_notified_at = CASE WHEN $3 THEN to_timestamp($9) \
                                             ELSE last_notified_at END, \
                     fire_started_at = CASE WHEN $5 \
                                            THEN coalesce(fire_started_at, to_timestamp($6)) \
                                            ELSE NULL END \
                     WHERE subscription_id = $1::text::uuid AND EXISTS (SELECT 1 FROM held)",
                    &[
                        &id,
                        &i64::try_from(next).unwrap_or(i64::MAX),
                        &notified,
                        &next_time,
                        &(scheduled.is_some() && !round_over),
                        &subscription.due,
                        &took,
                        &lease_id,
                        &claimed_at,
                        &token,
                    ],
                )
                .await
                .map_err(|e| e.to_string())?;
            if notified {
                state.metrics.subscription_delivered();
            }
            recorded
        }
        // Nothing sent: the worker gives the claim back (it is still `held`).
        Turn::Abandoned => return Ok(true),
        Turn::Failed(why) | Turn::Paused(why) => {
            // A scheduled one's retries, each a query and an access-log entry too, are no
            // closer together than its rounds may be.
            let wait = match (turn_is_pause(&why), subscription.schedule.is_some()) {
                (true, _) => PAUSE,
                (false, true) => backoff(failures).max(state.subscriptions.min_schedule_interval),
                (false, false) => backoff(failures),
            };
            state.metrics.subscription_failed();
            // A scheduled one's round goes on when it is tried again.
            client
                .execute(
                    "WITH held AS (DELETE FROM subscription_claims \
                                   WHERE token_id = $6 AND lease_id::text = $5 RETURNING 1) \
                     UPDATE subscriptions SET failures = failures + 1, \
                     next_attempt_at = clock_timestamp() + make_interval(secs => $2), \
                     last_failure = $3, \
                     fire_started_at = CASE WHEN schedule IS NULL THEN NULL \
                                            ELSE coalesce(fire_started_at, to_timestamp($4)) END \
                     WHERE subscription_id = $1::text::uuid AND EXISTS (SELECT 1 FROM held)",
                    &[
                        &id,
                        &wait.as_secs_f64(),
                        &truncated_to(&why, 512),
                        &subscription.due,
                        &lease_id,
                        &token,
                    ],
                )
                .await
                .map_err(|e| e.to_string())?
        }
    };
    held.slot().take();
    if recorded == 0 {
        // Deleted meanwhile (its named query too, perhaps), or the claim lapsed: whoever claims
        // it next goes on from what was recorded before.
        tracing::info!(subscription = %id, "a delivery's outcome was not recorded: its subscription is gone or was claimed again");
    }
    Ok(true)
}

/// Claims the subscription due first of a credential that holds no claim, for `lease`: one claim
/// at a time across processes (an advisory lock held for the claim's short transaction). The
/// claim is the credential's (`subscription_claims`), so that deleting the subscription does not
/// free the credential's turn while its delivery is under way. A row locked by a binary older
/// than V39 (which locked the row it delivered) is skipped.
async fn claim(
    log: &crate::access_log::AccessLog,
    size: i64,
    lease: Duration,
) -> Result<Option<tokio_postgres::Row>, String> {
    let mut client = log
        .delivery_pool()
        .get()
        .await
        .map_err(|error| error.to_string())?;
    let transaction = client.transaction().await.map_err(|e| e.to_string())?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1, 0)", &[&CLAIM_LOCK])
        .await
        .map_err(|e| e.to_string())?;
    let row = transaction
        .query_opt(
            "WITH candidate AS ( \
                 SELECT s.token_id, s.subscription_id FROM subscriptions s \
                 WHERE s.next_attempt_at <= now() AND (s.next_leaf < $1 OR s.schedule IS NOT NULL) \
                   AND NOT EXISTS (SELECT 1 FROM subscription_claims c \
                                   WHERE c.token_id = s.token_id \
                                     AND c.leased_until > clock_timestamp()) \
                 ORDER BY s.next_attempt_at LIMIT 1 FOR UPDATE OF s SKIP LOCKED), \
             claimed AS ( \
                 INSERT INTO subscription_claims (token_id, subscription_id, lease_id, leased_until) \
                 SELECT token_id, subscription_id, gen_random_uuid(), \
                        clock_timestamp() + make_interval(secs => $2) \
                 FROM candidate \
                 ON CONFLICT (token_id) DO UPDATE \
                     SET subscription_id = EXCLUDED.subscription_id, \
                         lease_id = EXCLUDED.lease_id, leased_until = EXCLUDED.leased_until \
                 RETURNING subscription_id, lease_id) \
             SELECT s.subscription_id::text, s.token_id, s.query_name, s.dest, s.signature_token, \
                    s.report_if_empty, s.next_leaf, s.failures, s.schedule, \
                    coalesce(s.last_notified_at >= s.fire_started_at, false), \
                    extract(epoch FROM coalesce(s.fire_started_at, s.next_attempt_at))::float8, \
                    c.lease_id::text, extract(epoch FROM now())::float8 \
             FROM claimed c JOIN subscriptions s USING (subscription_id)",
            &[&size, &lease.as_secs_f64()],
        )
        .await
        .map_err(|e| e.to_string())?;
    transaction.commit().await.map_err(|e| e.to_string())?;
    Ok(row)
}

/// A pause's reason starts so (a token that cannot read).
const PAUSED: &str = "paused: ";

fn turn_is_pause(why: &str) -> bool {
    why.starts_with(PAUSED)
}

/// The wait after `failures` failures before: 1, 2, 4, ... seconds, at most [`MAX_BACKOFF`].
fn backoff(failures: i32) -> Duration {
    let exponent = u32::try_from(failures.clamp(0, 16)).unwrap_or(16);
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

fn truncated_to(text: &str, bytes: usize) -> String {
    let mut end = text.len().min(bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// A subscription's row, as one turn reads it.
struct Subscription {
    id: String,
    token: String,
    query: String,
    dest: String,
    signature_token: Option<SecretString>,
    report_if_empty: bool,
    from: u64,
    /// Its schedule as stored, read (none: a stream).
    schedule: Option<Result<QuerySchedule, String>>,
    /// Whether its schedule's current round has delivered something already.
    reported: bool,
    /// When its current round was due (Unix seconds): the time its schedule named, which the
    /// next round is at least the least interval after (a round that ends late skips no time
    /// for that).
    due: f64,
    /// The latest a delivery may be sent: its receiver's timeout and the record of what came of
    /// it must fit before its claim lapses, so that no other claim can send the range meanwhile.
    send_by: std::time::Instant,
    /// When the receiver's answer must have come, whatever the timeout: what is left of the claim
    /// less the time kept for the record.
    answered_by: std::time::Instant,
    /// The service stopping: a delivery not yet sent is not sent.
    stop: CancellationToken,
}

/// A stored schedule, read; why it cannot be.
fn read_schedule(text: &str) -> Result<QuerySchedule, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(schedule)) => {
            QuerySchedule::parse(&schedule).map_err(|error| error.to_string())
        }
        _ => Err("it is not a JSON object".to_owned()),
    }
    .map_err(|why| format!("its stored schedule: {why}"))
}

/// One subscription's turn: its next page, recorded, signed, sent.
async fn deliver(
    state: &AppState,
    log: &crate::access_log::AccessLog,
    view: &crate::reader::View,
    subscription: &Subscription,
) -> Turn {
    let access = match access_of(state, &subscription.token).await {
        Ok(access) => access,
        Err(turn) => return turn,
    };
    let pairs = match super::queries::stored(state, &access, &subscription.query).await {
        Ok(pairs) => pairs,
        Err(problem) => return Turn::Failed(format!("its named query: {problem}")),
    };
    let query = match EventQuery::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
        Ok(query) => query,
        Err(error) => return Turn::Failed(format!("its named query: {error}")),
    };
    let size = view.size().get();
    let per_delivery = state.subscriptions.events_per_delivery;
    let (events, next) = match super::query::page_in_log_order(
        state,
        view,
        (&access, None),
        &query,
        subscription.from,
        per_delivery,
    )
    .await
    {
        Ok(page) => page,
        Err(problem) => return Turn::Failed(format!("its events could not be read: {problem}")),
    };
    let to = next.unwrap_or(size).min(size);
    // Nothing to say: nothing found, or a scheduled round that reports nothing found only once it
    // has read all there is and only if it delivered nothing.
    let scheduled = match &subscription.schedule {
        Some(Err(why)) => return Turn::Failed(why.clone()),
        scheduled => scheduled.is_some(),
    };
    if events.is_empty()
        && (!subscription.report_if_empty || (scheduled && (to < size || subscription.reported)))
    {
        return Turn::Done {
            next: to,
            notified: false,
        };
    }
    let pinned = match check_dest(&subscription.dest, &state.subscriptions).await {
        Ok(pinned) => pinned,
        Err(why) => return Turn::Failed(format!("dest: {why}")),
    };
    let count = events.len();
    let body = query_document(&subscription.query, Some(&subscription.id), &events);
    // Recorded before it leaves, as any answer to a token.
    let target = format!(
        "/queries/{}/subscriptions/{}",
        subscription.query, subscription.id
    );
    let recorded = record_push(log, &access, target, &body, count, size).await;
    if let Err(problem) = recorded {
        return Turn::Failed(format!("not recorded in the access log: {problem}"));
    }
    let digest = hex(&sha2::Sha256::digest(body.as_bytes()));
    let from = subscription.from;
    let note = match log.sign_note(&format!(
        "{DELIVERY_NOTE}\n{}\n{from} {to}\n{digest}\n",
        subscription.id
    )) {
        Ok(note) => note,
        Err(error) => return Turn::Failed(format!("the delivery could not be signed: {error}")),
    };
    let mut headers = vec![
        (
            "GS1-Signature".to_owned(),
            base64::engine::general_purpose::STANDARD.encode(note),
        ),
        ("TagTrail-Delivery-Range".to_owned(), format!("{from} {to}")),
    ];
    if let Some(token) = &subscription.signature_token {
        match hmac::Hmac::<sha2::Sha256>::new_from_slice(token.expose_secret().as_bytes()) {
            Ok(mut mac) => {
                mac.update(body.as_bytes());
                headers.push((
                    "GS1-Signature-HMAC-SHA256".to_owned(),
                    hex(&mac.finalize().into_bytes()),
                ));
            }
            Err(error) => return Turn::Failed(format!("the HMAC could not be made: {error}")),
        }
    }
    if subscription.stop.is_cancelled() {
        return Turn::Abandoned;
    }
    if std::time::Instant::now() > subscription.send_by {
        return Turn::Failed(
            "the delivery was not sent: making it took too long to wait for the receiver"
                .to_owned(),
        );
    }
    let dest = subscription.dest.clone();
    let timeout = state.subscriptions.timeout;
    let answered_by = subscription.answered_by;
    // The receiver's time runs from when the request is made, on a thread of the blocking pool,
    // and ends before the claim would lapse, however long the pool kept it waiting.
    let sent = tokio::task::spawn_blocking(move || {
        let left = answered_by.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err("not sent: its claim would lapse first".to_owned());
        }
        post(&dest, pinned, &headers, body, timeout.min(left))
    })
    .await;
    match sent {
        Ok(Ok(status)) if (200..300).contains(&status) => Turn::Done {
            next: to,
            notified: true,
        },
        Ok(Ok(status)) => Turn::Failed(format!("the receiver answered {status}")),
        // The subscriber reads `lastFailure`: how a connection failed (refused, reset, timed
        // out) would tell it what listens where this service can reach. Logged for the operator.
        Ok(Err(why)) => {
            tracing::info!(subscription = %subscription.id, error = %why, "a delivery did not reach its receiver");
            Turn::Failed("the receiver was not reached".to_owned())
        }
        Err(error) => Turn::Failed(format!("the delivery did not run: {error}")),
    }
}

/// Records, in the access log, a message `body` of `count` events pushed to `access`'s holder
/// (method `PUSH`, `target` naming the subscription) as of the ledger checkpoint of `size`: its
/// leaf index once durable.
pub(super) async fn record_push(
    log: &crate::access_log::AccessLog,
    access: &Access,
    target: String,
    body: &str,
    count: usize,
    size: u64,
) -> Result<u64, Problem> {
    let as_of = TreeSize::new(size).unwrap_or(TreeSize::ZERO);
    let entry = crate::access_log::AccessLog::entry_of(
        access,
        "PUSH",
        target,
        Some(body.as_bytes()),
        count,
        as_of,
    )?;
    log.record(&entry).await
}

/// The `EPCISQueryDocument` a subscription (`id`, a webhook's; none for a WebSocket stream) of
/// named query `name` sends with `events`.
pub(super) fn query_document(name: &str, id: Option<&str>, events: &[Shown]) -> String {
    super::query::query_document(name, id, &now_rfc3339(), events)
}

/// What the subscription's credential (an access token, or a grant that still gives
/// `subscribe`) may read now, or the pause its state calls for.
pub(super) async fn access_of(state: &AppState, token: &str) -> Result<Access, Turn> {
    let token = TokenId::parse(token)
        .map_err(|error| Turn::Failed(format!("a stored credential id: {error}")))?;
    let client = state
        .registry
        .get()
        .await
        .map_err(|error| Turn::Failed(format!("the registry: {error}")))?;
    let refused = match registry::access_by_id(&client, &token).await {
        Ok(access) => return Ok(access),
        Err(AccessRefused::Read(error)) => {
            return Err(Turn::Failed(format!("the registry: {error}")));
        }
        Err(refused) => refused,
    };
    drop(client);
    let grant = match state.grants.stored(&state.registry, &token).await {
        Ok(Some(grant)) => grant,
        Ok(None) => return Err(Turn::Paused(format!("{PAUSED}{refused}"))),
        Err(GrantRefused::Unauthenticated(why)) => {
            return Err(Turn::Paused(format!("{PAUSED}{why}")));
        }
        Err(error) => return Err(Turn::Failed(format!("the registry: {error}"))),
    };
    let access = registry::access_of_grant(&grant)
        .map_err(|error| Turn::Failed(format!("the registry: {error}")))?;
    if !access.may(Permission::Subscribe) {
        return Err(Turn::Paused(format!(
            "{PAUSED}grant {token} no longer gives `subscribe`"
        )));
    }
    Ok(access)
}

/// `POST`s `body` to `dest` with `headers`, connecting to the `pinned` addresses when given (and
/// through no proxy), no redirect followed: the status, or why none.
fn post(
    dest: &str,
    pinned: Option<Vec<SocketAddr>>,
    headers: &[(String, String)],
    body: String,
    timeout: Duration,
) -> Result<u16, String> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(timeout))
        .build();
    let agent = match pinned {
        Some(addresses) => ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            Pinned(addresses),
        ),
        None => ureq::Agent::new_with_config(config),
    };
    let mut request = agent
        .post(dest)
        .header("Content-Type", "application/json")
        .header("GS1-EPCIS-Version", "2.0.0")
        .header("GS1-CBV-Version", "2.0.0");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
        .send(body)
        .map(|response| response.status().as_u16())
        // ureq's errors name the host, never the whole URL (which may hold a secret).
        .map_err(|error| truncated_to(&error.to_string(), 200))
}

fn now_rfc3339() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    ledger::ids::UnixMillis::from_millis(millis).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
            "192.0.0.8",
            "::7f00:1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "::ffff:0:7f00:1",
            "fec0::1",
            "100::1",
            "2002:a00:1::1",
            "2001:0:4136:e378::1",
        ] {
            assert!(!is_public(&private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(&public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn failing_deliveries_wait_longer_and_longer_up_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(20), MAX_BACKOFF);
        assert_eq!(backoff(-1), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_dest_must_be_a_public_https_host_unless_allowed() {
        let open = SubscriptionsConfig::default();
        for (dest, says) in [
            ("ftp://example.com/x", "not http"),
            ("not a url", "not a URL"),
            ("http://example.com/hook", "https only"),
            ("https://user:pw@example.com/hook", "user or password"),
            ("https://127.0.0.1/hook", "not a public address"),
            ("https://[::1]/hook", "not a public address"),
            ("https://10.0.0.8:8443/hook", "not a public address"),
        ] {
            let why = check_dest(dest, &open).await.unwrap_err();
            assert!(why.contains(says), "{dest}: {why}");
        }
        let inside = SubscriptionsConfig {
            allowed_hosts: vec!["127.0.0.1".to_owned()],
            ..SubscriptionsConfig::default()
        };
        assert_eq!(
            check_dest("http://127.0.0.1:9/hook", &inside).await,
            Ok(None)
        );
        let why = check_dest("https://8.8.8.8/hook", &inside)
            .await
            .unwrap_err();
        assert!(why.contains("allowed_hosts"), "{why}");
        // A public host's checked addresses are what the delivery connects to.
        let checked = check_dest("https://8.8.8.8:8443/hook", &open).await;
        assert_eq!(checked, Ok(Some(vec!["8.8.8.8:8443".parse().unwrap()])));
    }

    /// A delivery connects to the addresses checked, never to a second lookup of the name: the
    /// name here (`.invalid`, RFC 6761) resolves to nothing, and the request still reaches the
    /// address it was pinned to, with the name in `Host`.
    #[test]
    fn a_delivery_goes_to_the_addresses_checked_not_to_a_new_lookup() {
        use std::io::{BufRead as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let receiver = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                head.push(line.trim_end().to_owned());
            }
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
            head
        });
        let dest = format!("http://rebound.invalid:{}/hook", address.port());
        let status = post(
            &dest,
            Some(vec![address]),
            &[],
            "{}".to_owned(),
            Duration::from_secs(10),
        );
        assert_eq!(status, Ok(204));
        let head = receiver.join().unwrap();
        assert_eq!(head[0], "POST /hook HTTP/1.1");
        let host = format!("host: rebound.invalid:{}", address.port());
        assert!(
            head.iter().any(|line| line.eq_ignore_ascii_case(&host)),
            "{head:?}"
        );
    }
}
