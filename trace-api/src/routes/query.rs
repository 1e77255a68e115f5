//! The EPCIS 2.0 query interface of the REST binding: `GET /events` with the `SimpleEventQuery`
//! parameters ([`epcis::query::EventQuery`]), and the resources that are the same query with one
//! parameter set by the path (`/eventTypes/{type}/events`, `/epcs/{epc}/events`,
//! `/bizSteps/{step}/events`, `/bizLocations/{location}/events`, `/readPoints/{point}/events`,
//! `/dispositions/{disposition}/events`, `/events/{eventID}`). Each answers an
//! `EPCISQueryDocument`.
//!
//! **Who may ask.** Every request carries an access token (`Authorization: Bearer tt_...`,
//! `tagtrail token create --role regulator|partner`), checked on every request against the
//! registry (revoked or expired: refused at once). A regulator reads every event; a partner only
//! the events reported from its sites (the rest are not in its results, as if absent).
//!
//! **What an answer holds.** Events as of one signed checkpoint (the first page's newest; every
//! later page of the same query is read as of that same checkpoint, so pages neither skip nor
//! repeat events as the log grows). Each event is the stored event (with its own `@context`), its
//! `recordTime` (when the log recorded it, if the event does not carry one) and one member of
//! tagtrail's namespace, [`LEDGER_MEMBER`]: its leaf index, its CBV 2.0 event hash, the
//! checkpoint's size and who reported it. Drop that member before hashing the event.
//!
//! **How it is found.** By the ledger's lookups when the query names identities (`MATCH_` of
//! EPCs) or places (`EQ_bizLocation`, `EQ_readPoint`), else by the event-time index of the
//! indexed entries (`GE_eventTime`/`LT_eventTime`), else by reading the log in order. Every
//! candidate is loaded and checked against every parameter. Without `orderBy`, results come in
//! log order, a page at a time: a page reads at most `limits.max_history_events` entries, so a
//! query that finds little in a large log answers pages with fewer events than `perPage` (even
//! none) and a `Link` to the next (as the binding allows). With `orderBy` or `maxEventCount`, the
//! whole result is read, sorted and counted first: a query that reads more than that many
//! entries is refused (`QueryTooComplexException`: narrow it with an identity, a place or an
//! event-time range).
//!
//! **Paging.** `perPage` (30 by default, at most `limits.max_page_size`); the next page's URL in
//! `Link: <...>; rel="next"` with `nextPageToken`, valid for [`TOKEN_LIFETIME`]
//! (`GS1-Next-Page-Token-Expires`), for the same query and the same credential, on the instance
//! that gave it (its key is made at start-up). A token altered, expired, of another query or of
//! another credential is refused (`QueryParameterException`).

use std::ops::Range;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use epcis::document::{Event, Timestamp};
use epcis::query::{Cover, EventQuery, Limit, OrderKey};
use ledger::history::Parties;
use ledger::ids::UnixMillis;
use ledger::index::IndexKey;
use ledger::record::Attestation;
use ledger::size::{LeafIndex, TreeSize};
use ledger_store::{Lookup, ProveKeyError, StoredEntry};
use registry::{Access, AccessRefused, Permission, Role, SiteToken};
use subtle::ConstantTimeEq as _;

use crate::grants::{GrantRefused, now_seconds};

use crate::problem::{EpcisException, Problem};
use crate::reader::View;
use crate::startup::AppState;

/// The member of each result event that says where the log holds it.
pub const LEDGER_MEMBER: &str = ledger::LEDGER_ENTRY_MEMBER;
/// How long a page token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(600);
/// Events per page when `perPage` is not given (the binding's default).
const DEFAULT_PER_PAGE: usize = 30;
/// The longest query string read (`414` beyond).
const MAX_QUERY_STRING: usize = 16 * 1024;
/// How many values matched against an event cost about what parsing it costs: a query's
/// matching weighs 1 more for each this many (see [`EventQuery::comparisons`]).
const COMPARISONS_PER_PARSE: usize = 32;
/// Leaves examined per batch, at most and at least.
const BATCH: usize = 256;
const MIN_BATCH: usize = 32;
/// The time index's ranges a page reads at most (a range holds up to 256 entries of a step, or a
/// whole step in ledgers indexed before blocks): more than a page examines.
const RANGES_PER_PAGE: usize = 64;
/// The most entries past the verifiable index's size a query by class reads one by one: beyond,
/// the index is rebuilding, and the query is answered as if there were none.
const MAX_UNINDEXED_TAIL: u64 = 100_000;
/// The time index's ranges a page of a query by places over a time window reads at most: its
/// candidates are listed by the places' keys within them, so it reads ranges, not their entries.
const PLACE_TIME_RANGES: usize = 2_048;
/// Ranges of a query by places this close (entries) are listed as one.
const PLACE_RANGE_GAP: u64 = 1_024;

// A class parameter lists no more classes than a query lists keys for: every one is answered
// through the index.
const _: () = assert!(epcis::query::MAX_VALUES <= ledger::bundle::MAX_COVER_KEYS);

/// The key that signs page tokens, made at start-up (zeroed on drop).
pub struct PageKey(zeroize::Zeroizing<[u8; 32]>);

impl PageKey {
    /// A fresh random key.
    pub fn generate() -> anyhow::Result<Self> {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut_slice())
            .map_err(|error| anyhow::anyhow!("no random bytes for the page token key: {error}"))?;
        Ok(Self(key))
    }

    fn mac(&self, payload: &[u8]) -> [u8; 16] {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(payload);
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        let mut short = [0u8; 16];
        short.copy_from_slice(&full[..16]);
        short
    }
}

impl std::fmt::Debug for PageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageKey(..)")
    }
}

/// Where a query's next page starts: the checkpoint it is read as of, and the next leaf to
/// examine (log order) or the number of results before it (ordered results).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageToken {
    size: u64,
    position: u64,
    expires: u64,
    query: [u8; 16],
}

/// The token's bytes: version, size, position, expiry, query digest; then their MAC.
const TOKEN_BYTES: usize = 1 + 8 + 8 + 8 + 16;

impl PageToken {
    fn encode(&self, key: &PageKey) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_BYTES + 16);
        bytes.push(1);
        bytes.extend_from_slice(&self.size.to_be_bytes());
        bytes.extend_from_slice(&self.position.to_be_bytes());
        bytes.extend_from_slice(&self.expires.to_be_bytes());
        bytes.extend_from_slice(&self.query);
        let mac = key.mac(&bytes);
        bytes.extend_from_slice(&mac);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a token this instance gave for `query`, refusing one altered, of another query or
    /// credential, or expired (as of `now`, Unix seconds).
    fn decode(text: &str, key: &PageKey, query: &[u8; 16], now: u64) -> Result<Self, Problem> {
        let invalid = |why: &str| {
            Problem::Epcis(
                EpcisException::QueryParameter,
                format!("nextPageToken is not valid: {why}; ask the first page again without it"),
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| invalid("it is not a token this service gave"))?;
        if bytes.len() != TOKEN_BYTES + 16 || bytes[0] != 1 {
            return Err(invalid("it is not a token this service gave"));
        }
        let (payload, mac) = bytes.split_at(TOKEN_BYTES);
        let expected = key.mac(payload);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_slice(), mac)) {
            return Err(invalid(
                "it was altered, or another instance of this service gave it",
            ));
        }
        let number = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&payload[at..at + 8]);
            u64::from_be_bytes(word)
        };
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&payload[25..41]);
        let token = Self {
            size: number(1),
            position: number(9),
            expires: number(17),
            query: digest,
        };
        if token.query != *query {
            return Err(invalid(
                "it belongs to another query or another credential (give the same parameters as the first page)",
            ));
        }
        if token.expires <= now {
            return Err(invalid("it expired"));
        }
        Ok(token)
    }
}

/// The digest that binds a page token to its query and credential.
fn query_digest(query: &EventQuery, access: &Access) -> [u8; 16] {
    let mut hash = Sha256::new();
    hash.update(access.token.as_str().as_bytes());
    for (name, value) in query.canonical() {
        hash.update((name.len() as u64).to_be_bytes());
        hash.update(name.as_bytes());
        hash.update((value.len() as u64).to_be_bytes());
        hash.update(value.as_bytes());
    }
    let full: [u8; 32] = hash.finalize().into();
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&full[..16]);
    digest
}

/// The access a request's credential grants, if it may do `permission`: an access token
/// (`Authorization: Bearer <token>`) or a signed grant (the request signed with the grant's key,
/// RFC 9421: `Signature-Input` and `Signature`; `crate::grants`). `401` when there is none, or
/// it is unknown, expired or revoked, or its signature does not hold; `403` when it does not
/// give `permission` (any credential will do for `None`). A request with a body checks it against its `Content-Digest` too
/// ([`check_content_digest`]).
pub(super) async fn authenticate(
    request: &HttpRequest,
    state: &AppState,
    permission: Option<Permission>,
) -> Result<Access, Problem> {
    let unauthenticated =
        |why: &str| Problem::Epcis(EpcisException::Unauthenticated, why.to_owned());
    let access = if request.headers().contains_key("signature-input") {
        state
            .grants
            .authenticate(request, &state.registry)
            .await
            .map_err(|refused| match refused {
                GrantRefused::Unauthenticated(why) => unauthenticated(&why),
                GrantRefused::GrantBusy(retry_after) => Problem::RateLimited { retry_after },
                GrantRefused::Busy(_) | GrantRefused::Pool(_) => Problem::unavailable(&refused),
                GrantRefused::Registry(registry::ReadError::Query(error)) => {
                    Problem::unavailable(&error)
                }
                GrantRefused::Registry(corrupt) => Problem::internal(&corrupt),
            })?
    } else {
        let token = bearer_token(
            request,
            "the query interface needs an access token: Authorization: Bearer <token> (tagtrail token create --role regulator|partner), or a request signed with a grant (tagtrail grant issue)",
        )?;
        let client = state
            .registry
            .get()
            .await
            .map_err(|error| Problem::unavailable(&error))?;
        registry::access_of(&client, &token)
            .await
            .map_err(|refused| match refused {
                AccessRefused::Read(registry::ReadError::Query(error)) => {
                    Problem::unavailable(&error)
                }
                AccessRefused::Read(corrupt) => Problem::internal(&corrupt),
                refused => unauthenticated(&refused.to_string()),
            })?
    };
    if let Some(permission) = permission
        && !access.may(permission)
    {
        return Err(Problem::Epcis(
            EpcisException::Forbidden,
            format!(
                "credential {} does not give the permission `{permission}` (it gives {})",
                access.token,
                access
                    .permissions
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(access)
}

/// The request's body, read no further than `limit` bytes, and checked against its
/// `Content-Digest` ([`check_content_digest`]).
pub(super) async fn read_body(
    request: &HttpRequest,
    body: web::Payload,
    limit: usize,
) -> Result<web::Bytes, Problem> {
    let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
    let body = match body.to_bytes_limited(limit).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => return Err(bad(format!("the request body could not be read: {error}"))),
        Err(_) => {
            return Err(bad(format!(
                "the request body is longer than {limit} bytes"
            )));
        }
    };
    check_content_digest(request, &body)?;
    Ok(body)
}

/// Fails unless `body` is what the request's `Content-Digest` header (RFC 9530, `sha-256`) says,
/// when it has one: a grant's request signature covers that header, so the body it signed is
/// the body answered.
pub(super) fn check_content_digest(request: &HttpRequest, body: &[u8]) -> Result<(), Problem> {
    let Some(header) = request.headers().get("content-digest") else {
        return Ok(());
    };
    let expected = ledger::grant::content_digest(body);
    let matches: bool = header.as_bytes().ct_eq(expected.as_bytes()).into();
    if matches {
        Ok(())
    } else {
        Err(Problem::Epcis(
            EpcisException::QueryParameter,
            format!(
                "the body is not the one Content-Digest names (this service checks `{expected}` exactly)"
            ),
        ))
    }
}

/// The header of a credentialed answer naming its access-log entry's leaf index.
pub(super) const ACCESS_ENTRY_HEADER: &str = "TagTrail-Access-Entry";

/// Fails unless this service keeps an access log: nothing across items is answered unrecorded
/// (checked before any work is done for the request).
pub(super) fn access_log(state: &AppState) -> Result<&crate::access_log::AccessLog, Problem> {
    state.access_log.as_deref().ok_or(Problem::Unrecorded(None))
}

/// Records, in the access log, the answer `access` asked for with `request` (and `body`),
/// holding `answered` events as of the ledger checkpoint of `as_of` entries: its leaf index
/// once durable, or the refusal to answer.
pub(super) async fn record_access(
    state: &AppState,
    access: &Access,
    request: &HttpRequest,
    body: Option<&[u8]>,
    answered: usize,
    as_of: TreeSize,
) -> Result<u64, Problem> {
    let log = access_log(state)?;
    let entry = crate::access_log::AccessLog::entry(access, request, body, answered, as_of)?;
    let index = log.record(&entry).await?;
    state.metrics.access_recorded();
    Ok(index)
}

/// `problem`, recorded first in the access log as an answer of no events when it tells something
/// of the events `access`'s request matched or named (`413 QueryTooLargeException`: how many, or
/// that there are more than a limit; `413 QueryTooComplexException`: that more entries name what
/// it asked than an answer reads): a refusal is no way to learn of the events unrecorded. When
/// it cannot be recorded, why not (`503`) instead.
pub(super) async fn recorded_refusal(
    state: &AppState,
    access: &Access,
    request: &HttpRequest,
    body: Option<&[u8]>,
    as_of: TreeSize,
    problem: Problem,
) -> Problem {
    if !matches!(
        problem,
        Problem::Epcis(
            EpcisException::QueryTooLarge | EpcisException::QueryTooComplex,
            _
        )
    ) {
        return problem;
    }
    match record_access(state, access, request, body, 0, as_of).await {
        Ok(_) => problem,
        Err(unrecorded) => unrecorded,
    }
}

/// The token of the request's `Authorization: Bearer tt_<id>_<secret>` header (an access token
/// or a site's capture token: both have that form); `401` saying `missing` when there is none,
/// and what form it must have when it is not one.
pub(super) fn bearer_token(request: &HttpRequest, missing: &str) -> Result<SiteToken, Problem> {
    let unauthenticated =
        |why: &str| Problem::Epcis(EpcisException::Unauthenticated, why.to_owned());
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthenticated(missing))?;
    header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| SiteToken::parse(token.trim()).ok())
        .ok_or_else(|| {
            unauthenticated(
                "the Authorization header is not Bearer tt_<16 hex digits>_<64 hex digits>",
            )
        })
}

/// The leaves of every event matching `query` (from leaf `from` on, in log order), as the query
/// interface finds them for `access`; more than `most` is `413 QueryTooLargeException`.
pub(super) async fn matching_leaves(
    request: &HttpRequest,
    state: &AppState,
    view: &View,
    access: &Access,
    query: &EventQuery,
    from: u64,
    most: usize,
) -> Result<Vec<u64>, Problem> {
    let parties = state
        .parties
        .get(&state.registry)
        .await
        .map_err(super::items::registry_problem)?;
    let search = Search {
        state,
        view,
        parties: &parties,
        access,
        query,
        budget: state.budget.answer_for(super::items::client(request)),
    };
    let mut leaves = Vec::new();
    let mut position = Some(from);
    while let Some(at) = position {
        // As a page does: the candidates from where it starts (a time range reads on).
        let candidates = search.candidates(at, BATCH).await?;
        let (results, next) = search.in_log_order(&candidates, at, BATCH).await?;
        leaves.extend(
            results
                .iter()
                .map(|event| event.leaf)
                .filter(|leaf| *leaf >= from),
        );
        if leaves.len() > most {
            return Err(Problem::Epcis(
                EpcisException::QueryTooLarge,
                format!("more than {most} events match: narrow the query"),
            ));
        }
        position = next.filter(|next| *next > at);
    }
    Ok(leaves)
}

/// The query parameters of a request, decoded.
pub(super) fn parameters(request: &HttpRequest) -> Result<Vec<(String, String)>, Problem> {
    let raw = request.query_string();
    if raw.len() > MAX_QUERY_STRING {
        return Err(Problem::Epcis(
            EpcisException::UriTooLong,
            format!("the query string is longer than {MAX_QUERY_STRING} bytes"),
        ));
    }
    web::Query::<Vec<(String, String)>>::from_query(raw)
        .map(web::Query::into_inner)
        .map_err(|error| {
            Problem::Epcis(
                EpcisException::QueryParameter,
                format!("the query string does not decode: {error}"),
            )
        })
}

/// One page of `query` as `access` may read it, in log order from leaf `from` on, as of `view`
/// (at most `per_page` events): its events as `GET /events` shows them, and the leaf the next
/// page starts from (`None`: none left as of `view`). What a subscription's delivery carries;
/// what it loads is charged to `client`'s byte rate, when it has one (a WebSocket stream's).
pub(super) async fn page_in_log_order(
    state: &AppState,
    view: &View,
    (access, client): (&Access, Option<std::net::IpAddr>),
    query: &EventQuery,
    from: u64,
    per_page: usize,
) -> Result<(Vec<Shown>, Option<u64>), Problem> {
    let parties = state
        .parties
        .get(&state.registry)
        .await
        .map_err(super::items::registry_problem)?;
    let search = Search {
        state,
        view,
        parties: &parties,
        access,
        query,
        budget: state.budget.answer_for(client),
    };
    let candidates = search.candidates(from, per_page).await?;
    search.in_log_order(&candidates, from, per_page).await
}

/// The parameters of a query given as a JSON object (an export's, a named query's: the binding's
/// `EPCISEventsQuery`), as the query string would give them: a string as it is, a number or a
/// boolean as written, a list of strings joined by `|` (the binding's "one of").
pub(super) fn query_pairs(query: &Map<String, Value>) -> Result<Vec<(String, String)>, Problem> {
    let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
    let mut pairs = Vec::with_capacity(query.len());
    for (name, value) in query {
        let value = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(format!("parameter {name}: a list holds strings only")))?
                .join("|"),
            _ => {
                return Err(bad(format!(
                    "parameter {name} is not a string, a number, a boolean or a list of strings"
                )));
            }
        };
        pairs.push((name.clone(), value));
    }
    Ok(pairs)
}

/// `GET /events`.
pub(super) async fn events(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    answer(&request, &state, Set::Nothing).await
}

/// The resources that are `GET /events` with one parameter set by their path: the route, and
/// the parameter its path segment sets.
const RESOURCES: [(&str, &str); 6] = [
    ("/eventTypes/{eventType}/events", "eventType"),
    ("/epcs/{epc}/events", "MATCH_anyEPC"),
    ("/bizSteps/{bizStep}/events", "EQ_bizStep"),
    ("/bizLocations/{bizLocation}/events", "EQ_bizLocation"),
    ("/readPoints/{readPoint}/events", "EQ_readPoint"),
    ("/dispositions/{disposition}/events", "EQ_disposition"),
];

/// `GET /eventTypes/{eventType}/events`, `/epcs/{epc}/events`, `/bizSteps/{bizStep}/events`,
/// `/bizLocations/{bizLocation}/events`, `/readPoints/{readPoint}/events` and
/// `/dispositions/{disposition}/events`: the query with the parameter of [`RESOURCES`] set.
pub(super) async fn by_resource(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let route = request.match_pattern().unwrap_or_default();
    let (_, parameter) = RESOURCES
        .iter()
        .find(|(pattern, _)| *pattern == route)
        .ok_or_else(|| Problem::Internal(format!("{route} is no query resource")))?;
    answer(&request, &state, Set::ByPath(parameter, path.into_inner())).await
}

/// `GET /events/{eventID}`: the events whose `eventID` is this one (in an `EPCISQueryDocument`,
/// as the binding answers); `404 NoSuchNameException` when there is none the caller may read.
pub(super) async fn by_event_id(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let response = answer(&request, &state, Set::ByPath("EQ_eventID", id.clone())).await?;
    if response
        .extensions()
        .get::<Found>()
        .is_some_and(|found| found.0 == 0)
    {
        return Err(Problem::Epcis(
            EpcisException::NoSuchName,
            format!("no event {id:?} that this credential may read"),
        ));
    }
    Ok(response)
}

/// What a query route of the binding allows.
pub(super) const READ_ALLOW: &str = "GET, HEAD, OPTIONS";

/// `OPTIONS` of a query route, the binding's discovery: `204` with the versions served, the
/// formats events are answered in, and the methods allowed. It asks for no credential (it tells
/// nothing of the ledger, and a browser's CORS preflight carries none); a resource's path value
/// is read as its `GET` reads it, and one no query takes is a `400`.
pub(super) async fn options(request: HttpRequest) -> Result<HttpResponse, Problem> {
    let route = request.match_pattern().unwrap_or_default();
    let parameter = match route.as_str() {
        "/events/{eventID}" => Some("EQ_eventID"),
        route => RESOURCES
            .iter()
            .find(|(pattern, _)| *pattern == route)
            .map(|(_, parameter)| *parameter),
    };
    if let Some(parameter) = parameter {
        let value = request
            .match_info()
            .iter()
            .next()
            .map_or("", |(_, value)| value);
        EventQuery::parse([(parameter, value)])
            .map_err(|error| Problem::Epcis(EpcisException::QueryParameter, error.to_string()))?;
    }
    Ok(discovery(READ_ALLOW))
}

/// A `204` discovery answer of the binding: the versions served, the formats events are
/// answered in (as captured: [`FORMAT_HEADERS`]), and `allow`.
pub(super) fn discovery(allow: &'static str) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    for (name, value) in epcis::rest::DISCOVERY_VERSIONS {
        response.insert_header((name, value));
    }
    response
        .insert_header(("GS1-EPC-Format", "Never_Translates"))
        .insert_header(("GS1-CBV-XML-Format", "Never_Translates"))
        .insert_header((header::ALLOW, allow));
    response.finish()
}

/// How many events an answer held (kept on the response for [`by_event_id`]).
#[derive(Debug, Clone, Copy)]
struct Found(usize);

/// The values the binding's `GS1-EPC-Format` and `GS1-CBV-XML-Format` headers may have. Events
/// are answered as they were captured, whichever is asked (`Never_Translates`): the event hash
/// a result carries is of the event as captured, and a translated event would not verify
/// against it.
const FORMAT_HEADERS: [(&str, &[&str]); 2] = [
    (
        "GS1-EPC-Format",
        &[
            "No_Preference",
            "Always_GS1_Digital_Link",
            "Always_EPC_URN",
            "Never_Translates",
        ],
    ),
    (
        "GS1-CBV-XML-Format",
        &[
            "No_Preference",
            "Always_Web_URI",
            "Always_URN",
            "Never_Translates",
        ],
    ),
];

/// Authenticates a request to the binding's named queries and subscriptions (with `permission`)
/// and checks its negotiation headers ([`negotiate`]), as a query's are.
pub(super) async fn authenticate_binding(
    request: &HttpRequest,
    state: &AppState,
    permission: Permission,
) -> Result<Access, Problem> {
    let access = authenticate(request, state, Some(permission)).await?;
    negotiate(request)?;
    Ok(access)
}

/// Checks the binding's negotiation headers: the versions the client accepts must include the
/// ones served (`406` otherwise; `400` for a malformed one), and the format headers must have
/// one of their values.
fn negotiate(request: &HttpRequest) -> Result<(), Problem> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap_or("\u{fffd}"))
    };
    epcis::rest::check_versions(header).map_err(|problem| {
        let kind = if problem.is_malformed() {
            EpcisException::QueryParameter
        } else {
            EpcisException::NotAcceptable
        };
        Problem::Epcis(kind, problem.to_string())
    })?;
    for (name, values) in FORMAT_HEADERS {
        if let Some(value) = header(name)
            && !values.contains(&value.trim())
        {
            return Err(Problem::Epcis(
                EpcisException::QueryParameter,
                format!("{name}: {value:?} is not one of {}", values.join(", ")),
            ));
        }
    }
    Ok(())
}

/// The parameters a query is given besides its query string's.
pub(super) enum Set {
    /// None: the query string is the whole query.
    Nothing,
    /// One, by the resource's path.
    ByPath(&'static str, String),
    /// Those of the caller's named query of this name (the query string gives paging only).
    ByNamedQuery(String),
}

/// Answers a query: authenticates, reads the parameters, finds the page and writes the document.
pub(super) async fn answer(
    request: &HttpRequest,
    state: &AppState,
    set: Set,
) -> Result<HttpResponse, Problem> {
    let access = authenticate(request, state, Some(Permission::Query)).await?;
    access_log(state)?;
    negotiate(request)?;
    let given = parameters(request)?;
    let mut pairs = given.clone();
    // What a named query asked, for the access log: its name alone would not tell a query from
    // another made under the same name after the first was deleted.
    let mut definition: Option<Vec<u8>> = None;
    let (set, by) = match set {
        Set::Nothing => (Vec::new(), ""),
        Set::ByPath(name, value) => (vec![(name.to_owned(), value)], "this resource's path"),
        Set::ByNamedQuery(name) => {
            let stored = super::queries::stored(state, &access, &name).await?;
            definition =
                Some(serde_json::to_vec(&stored).map_err(|error| Problem::internal(&error))?);
            // A named query's events take paging parameters only: the rest is the query's.
            if let Some((other, _)) = given
                .iter()
                .find(|(asked, _)| !super::queries::PAGING.contains(&asked.as_str()))
            {
                return Err(Problem::Epcis(
                    EpcisException::QueryParameter,
                    format!(
                        "{other} is not a paging parameter: a named query's events take perPage \
                         and nextPageToken only (the rest is the query's)"
                    ),
                ));
            }
            (stored, "the named query")
        }
    };
    for (name, value) in set {
        if pairs.iter().any(|(asked, _)| *asked == name) {
            return Err(Problem::Epcis(
                EpcisException::QueryParameter,
                format!("{name} is set by {by}: do not give it again"),
            ));
        }
        pairs.push((name, value));
    }
    let query = EventQuery::parse(
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
    .map_err(|error| Problem::Epcis(EpcisException::QueryParameter, error.to_string()))?;
    let per_page = query.paging().per_page.unwrap_or(DEFAULT_PER_PAGE);
    if per_page > state.limits.max_page_size {
        return Err(Problem::Epcis(
            EpcisException::QueryParameter,
            format!(
                "perPage is at most {} on this service",
                state.limits.max_page_size
            ),
        ));
    }
    let digest = query_digest(&query, &access);
    let now = now_seconds();
    let (view, position) = match &query.paging().next_page_token {
        None => (state.views.latest(&state.store).await?, 0),
        Some(text) => {
            let token = PageToken::decode(text, &state.page_key, &digest, now)?;
            let size = TreeSize::new(token.size).map_err(|_| {
                Problem::Internal(format!("a page token of ours holds size {}", token.size))
            })?;
            let view = View::at(&state.store, size, state.views.refused.clone())
                .await?
                .ok_or_else(|| {
                    Problem::Internal(format!("no checkpoint of size {size} for a page token"))
                })?;
            (view, token.position)
        }
    };
    let parties = state
        .parties
        .get(&state.registry)
        .await
        .map_err(super::items::registry_problem)?;
    let search = Search {
        state,
        view: &view,
        parties: &parties,
        access: &access,
        query: &query,
        budget: state.budget.answer_for(super::items::client(request)),
    };
    let ordered = query.order().is_some() || matches!(query.limit(), Some(Limit::AtMost(_)));
    // An ordered query reads its whole result each page (`position` counts results); the others
    // read on from the leaf `position` names.
    let searched = async {
        if ordered {
            let most = state.limits.max_history_events;
            let candidates = search.candidates(0, most.saturating_add(1)).await?;
            search.ordered(&candidates, position, per_page).await
        } else {
            let candidates = search.candidates(position, per_page).await?;
            search.in_log_order(&candidates, position, per_page).await
        }
    };
    let (results, next) = match searched.await {
        Ok(found) => found,
        Err(problem) => {
            let body = definition.as_deref();
            return Err(
                recorded_refusal(state, &access, request, body, view.size(), problem).await,
            );
        }
    };
    let found = results.len();
    // Recorded before anything of the answer leaves; the answer names its entry.
    let entry = record_access(
        state,
        &access,
        request,
        definition.as_deref(),
        found,
        view.size(),
    )
    .await?;
    let mut response = HttpResponse::Ok();
    response
        .insert_header((ACCESS_ENTRY_HEADER, entry.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("GS1-EPCIS-Version", "2.0.0"))
        .insert_header(("GS1-CBV-Version", "2.0.0"));
    if let Some(position) = next {
        let expires = now + TOKEN_LIFETIME.as_secs();
        let token = PageToken {
            size: view.size().get(),
            position,
            expires,
            query: digest,
        }
        .encode(&state.page_key);
        let link = next_link(request, &given, &token);
        if let Ok(value) = HeaderValue::from_str(&format!("<{link}>; rel=\"next\"")) {
            response.insert_header((header::LINK, value));
        }
        let at = UnixMillis::from_millis(expires.saturating_mul(1000)).to_rfc3339();
        response.insert_header(("GS1-Next-Page-Token-Expires", at));
    }
    let created = UnixMillis::from_millis(now.saturating_mul(1000)).to_rfc3339();
    let document = query_document("SimpleEventQuery", None, &created, &results);
    let mut response = response.content_type("application/json").body(document);
    response.extensions_mut().insert(Found(found));
    Ok(response)
}

/// The URL of the next page: this request's path and the parameters its query string gave
/// (but a previous token), and the new token.
pub(super) fn next_link(request: &HttpRequest, given: &[(String, String)], token: &str) -> String {
    let mut query: Vec<String> = given
        .iter()
        .filter(|(name, _)| name != "nextPageToken")
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect();
    query.push(format!("nextPageToken={}", encode(token)));
    format!("{}?{}", request.path(), query.join("&"))
}

/// Percent-encodes a query component (everything but unreserved characters).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Where the candidates of a query are.
#[derive(Debug)]
enum Candidates {
    /// These leaves, in order (found by the lookups).
    /// Each of these leaves, in order; and, when candidates were left unlisted, the leaf from
    /// which the next page lists them.
    Leaves(Vec<LeafIndex>, Option<u64>),
    /// Every leaf of these ranges, in order; and, when more ranges were left unread, the leaf
    /// from which the next page reads them.
    Ranges(Vec<Range<u64>>, Option<u64>),
}

impl Candidates {
    /// Where candidates left unread start, if some were.
    fn beyond(&self) -> Option<u64> {
        match self {
            Self::Leaves(_, beyond) | Self::Ranges(_, beyond) => *beyond,
        }
    }

    /// Whether there may be candidates from leaf `from` on.
    fn more_from(&self, from: u64) -> bool {
        !self.batch(from, 1).is_empty() || self.beyond().is_some()
    }

    /// Up to `count` candidates from leaf `from` on, in order.
    fn batch(&self, from: u64, count: usize) -> Vec<LeafIndex> {
        match self {
            Self::Leaves(leaves, _) => {
                let start = leaves.partition_point(|leaf| leaf.get() < from);
                leaves[start..].iter().take(count).copied().collect()
            }
            Self::Ranges(ranges, _) => {
                let mut batch = Vec::with_capacity(count);
                for range in ranges {
                    let start = range.start.max(from);
                    for leaf in start..range.end {
                        if batch.len() == count {
                            return batch;
                        }
                        if let Ok(leaf) = LeafIndex::new(leaf) {
                            batch.push(leaf);
                        }
                    }
                }
                batch
            }
        }
    }
}

/// Leaf indices as [`LeafIndex`]es (those beyond any tree left out).
fn leaves_of(leaves: Vec<u64>) -> Vec<LeafIndex> {
    leaves
        .into_iter()
        .filter_map(|leaf| LeafIndex::new(leaf).ok())
        .collect()
}

/// One query being answered.
struct Search<'a> {
    state: &'a AppState,
    view: &'a View,
    parties: &'a Parties,
    access: &'a Access,
    query: &'a EventQuery,
    budget: crate::budget::AnswerBudget,
}

/// An event of a result: the document's member and, for ordering, its key.
struct Hit {
    shown: Shown,
    key: OrderKey,
}

/// A result event as a document shows it, and its leaf: the text stored for its entry, as its
/// record binds it, with `recordTime` (where the event has none) and the [`LEDGER_MEMBER`]
/// written in before its closing brace. Never parsed and written out again: a page's cost is
/// its events' matching, not their re-serialising.
pub(super) struct Shown {
    pub(super) leaf: u64,
    pub(super) text: String,
}

impl Shown {
    /// `entry`, whose stored event parsed is `event`, as shown as of a checkpoint of `size`
    /// entries.
    fn of(entry: &StoredEntry, event: &Event, size: u64, parties: &Parties) -> Self {
        let stored = entry.event.trim_end();
        // A member of the ledger's name written by another hand (ingest refuses it) is left
        // out, and the ledger's own written in.
        let rewritten;
        let object = match stored.ends_with('}') && !event.has_member(LEDGER_MEMBER) {
            true => stored,
            false => {
                let mut map = event.raw().clone();
                map.shift_remove(LEDGER_MEMBER);
                rewritten = Value::Object(map).to_string();
                rewritten.as_str()
            }
        };
        // Either ends in the object's closing brace, one byte.
        let body = &object[..object.len() - 1];
        let mut text = String::with_capacity(object.len() + 384);
        text.push_str(body);
        if !body.trim_end().ends_with('{') {
            text.push(',');
        }
        if !event.has_member("recordTime") {
            text.push_str("\"recordTime\":");
            push_string(&mut text, &entry.record.captured_at().to_rfc3339());
            text.push(',');
        }
        push_string(&mut text, LEDGER_MEMBER);
        text.push(':');
        push_ledger_member(&mut text, entry, size, parties);
        text.push('}');
        Self {
            leaf: entry.leaf_index.get(),
            text,
        }
    }
}

/// `value` as a JSON string.
fn push_string(out: &mut String, value: &str) {
    out.push_str(&Value::from(value).to_string());
}

/// An `EPCISQueryDocument` of `events`, created at `created`, answering the query named `name`
/// (for a subscription, `id`'s).
pub(super) fn query_document(
    name: &str,
    id: Option<&str>,
    created: &str,
    events: &[Shown],
) -> String {
    let bytes = events
        .iter()
        .map(|event| event.text.len() + 1)
        .sum::<usize>();
    let mut out = String::with_capacity(bytes + 384);
    out.push_str("{\"@context\":[");
    push_string(&mut out, epcis::EPCIS_CONTEXT_URL);
    out.push_str("],\"type\":\"EPCISQueryDocument\",\"schemaVersion\":\"2.0\",\"creationDate\":");
    push_string(&mut out, created);
    out.push_str(",\"epcisBody\":{\"queryResults\":{\"queryName\":");
    push_string(&mut out, name);
    out.push_str(",\"resultsBody\":{\"eventList\":[");
    for (position, event) in events.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        out.push_str(&event.text);
    }
    out.push_str("]}");
    if let Some(id) = id {
        out.push_str(",\"subscriptionID\":");
        push_string(&mut out, id);
    }
    out.push_str("}}}");
    out
}

/// Why a query refuses an entry changed in the store ([`Search::matching`]): its stored event
/// is not what its leaf record commits to.
const NOT_AS_LOGGED: &str = "is not what its leaf record commits to";
/// Why a query refuses an entry whose record binds its event's hash only (version 1): its stored
/// event is not JSON.
const NOT_JSON: &str = "is not JSON";

impl Search<'_> {
    /// Where the query's results can be, from leaf `from` on (`enough`: how many candidates a
    /// page is content with, where they are listed a part at a time). By its event ids
    /// (`EQ_eventID`, looked up); else by its identities (`MATCH_` of EPCs: an item's events
    /// are few); else by its classes, through the
    /// verifiable index; else by its places over its event-time range, through the verifiable
    /// index's place-and-day keys within the time index's ranges; else by its event-time range
    /// (the time index's leaf ranges, the first [`RANGES_PER_PAGE`] from `from` on: a range is
    /// read in order, never listed, and a page reads the ranges it needs, so a window of
    /// millions of entries costs what its first pages cost); else by its places
    /// (`EQ_bizLocation`, `EQ_readPoint`); else the whole log, in order.
    async fn candidates(&self, from: u64, enough: usize) -> Result<Candidates, Problem> {
        // An event id is looked up under a name of its own (`ledger_store::event_id_lookup_name`).
        if let Some(ids) = self.query.event_ids() {
            let names: Vec<String> = ids
                .iter()
                .map(|id| ledger_store::event_id_lookup_name(id))
                .collect();
            let lookups: Vec<Lookup<'_>> = names.iter().map(|name| Lookup::Epc(name)).collect();
            let texts: Vec<&str> = ids.iter().map(String::as_str).collect();
            return self.looked_up(&lookups, &texts).await;
        }
        if let Some(identities) = self.query.identities() {
            let mut lookups = Vec::new();
            for name in &identities.names {
                if identities.in_lists {
                    lookups.push(Lookup::Epc(name));
                }
                if identities.in_parent {
                    lookups.push(Lookup::Parent(name));
                }
            }
            let texts: Vec<&str> = identities.names.iter().map(String::as_str).collect();
            return self.looked_up(&lookups, &texts).await;
        }
        if let Some(leaves) = self.indexed_classes().await? {
            return Ok(Candidates::Leaves(leaves, None));
        }
        if let Some(candidates) = self.indexed_places(from, enough).await? {
            return Ok(candidates);
        }
        if let Some(candidates) = self.time_ranges(from, RANGES_PER_PAGE).await? {
            return Ok(candidates);
        }
        if let Some(places) = self.query.places() {
            let lookups: Vec<Lookup<'_>> =
                places.iter().map(|place| Lookup::Location(place)).collect();
            let texts: Vec<&str> = places.iter().map(String::as_str).collect();
            return self.looked_up(&lookups, &texts).await;
        }
        // The whole log (one range: not a list of its leaves).
        #[allow(clippy::single_range_in_vec_init)]
        let whole = vec![0..self.view.size().get()];
        Ok(Candidates::Ranges(whole, None))
    }

    /// The candidates `lookups` find (and, past the lookups, the entries whose text holds one
    /// of `texts`), read within the answer's budget ([`narrower`] beyond it).
    async fn looked_up(
        &self,
        lookups: &[Lookup<'_>],
        texts: &[&str],
    ) -> Result<Candidates, Problem> {
        let leaves = self
            .view
            .candidates_by(lookups, texts, &|_| false, &self.budget)
            .await
            .map_err(narrower)?;
        Ok(Candidates::Leaves(leaves, None))
    }

    /// By the query's classes (an exact `MATCH_epcClass`, `MATCH_inputEPCClass`,
    /// `MATCH_outputEPCClass` or `MATCH_anyEPCClass`): the entries the verifiable index lists
    /// under each class's key (a lot's, for an LGTIN), one query a key, then every entry the
    /// index does not cover yet. `None` when the query names no class exactly or more than
    /// [`MAX_COVER_KEYS`](ledger::bundle::MAX_COVER_KEYS) (one listing query each), the checkpoint
    /// commits to no index, the index is more than [`MAX_UNINDEXED_TAIL`] entries behind, or a
    /// key lists more than one listing reads (a whole product's events: read by time or in
    /// order instead).
    async fn indexed_classes(&self) -> Result<Option<Vec<LeafIndex>>, Problem> {
        let classes = self
            .query
            .covers()
            .into_iter()
            .find_map(|cover| match cover {
                Cover::Classes(classes) => Some(classes),
                _ => None,
            });
        let (Some(classes), Some(commitment)) = (
            classes.filter(|classes| classes.len() <= ledger::bundle::MAX_COVER_KEYS),
            self.index_commitment(),
        ) else {
            return Ok(None);
        };
        let size = self.view.size().get();
        let keys: Vec<IndexKey> = classes
            .iter()
            .map(|class| IndexKey::class_or_lot(class))
            .collect();
        let (indexed, listed) = match self.view.store.list_keys_at(&commitment, &keys).await {
            Ok(found) => found,
            Err(ProveKeyError::Read(error)) => return Err(error.into()),
            Err(_) => return Ok(None),
        };
        let mut leaves: Vec<LeafIndex> = listed
            .into_iter()
            .chain(indexed.min(size)..size)
            .filter_map(|leaf| LeafIndex::new(leaf).ok())
            .collect();
        leaves.sort_unstable();
        leaves.dedup();
        Ok(Some(leaves))
    }

    /// By the query's places over its event-time range (`EQ_bizLocation` or `EQ_readPoint` with
    /// both `GE_eventTime` and `LT_eventTime`): within the time index's ranges from leaf `from`
    /// on, the entries the verifiable index lists under each place's key for each day of the
    /// range, read a few pages at a time until `enough` are found; then, in those ranges, every
    /// entry the index does not cover yet. A day at a busy place lists millions of entries, and
    /// the time index alone finds every entry of the hour at any place: together, a page reads
    /// the entries it answers. `None` when no cover of places gives at most
    /// [`MAX_COVER_KEYS`](ledger::bundle::MAX_COVER_KEYS) keys, the checkpoint commits to no
    /// index or one the store no longer holds, or the index is more than [`MAX_UNINDEXED_TAIL`]
    /// entries behind.
    async fn indexed_places(
        &self,
        from: u64,
        enough: usize,
    ) -> Result<Option<Candidates>, Problem> {
        let keys = self
            .query
            .covers()
            .into_iter()
            .find_map(|cover| match cover {
                Cover::PlacesBetween { .. } => ledger::bundle::cover_keys(cover),
                _ => None,
            });
        let (Some(keys), Some(commitment)) = (keys, self.index_commitment()) else {
            return Ok(None);
        };
        let Some(Candidates::Ranges(ranges, beyond)) =
            self.time_ranges(from, PLACE_TIME_RANGES).await?
        else {
            return Ok(None);
        };
        // Ranges close together read as one: fewer listing queries, for a few more candidates.
        let mut joined: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
        for range in ranges {
            let range = range.start.max(from)..range.end;
            match joined.last_mut() {
                _ if range.is_empty() => {}
                Some(last) if range.start <= last.end.saturating_add(PLACE_RANGE_GAP) => {
                    last.end = last.end.max(range.end);
                }
                _ => joined.push(range),
            }
        }
        let ranges = joined;
        let keys: Vec<IndexKey> = keys.into_iter().map(|(key, _)| key).collect();
        let pages = enough
            .div_ceil(ledger_store::INDEX_PAGE_PAIRS)
            .saturating_add(1);
        let listed = match self
            .view
            .store
            .list_keys_within(&commitment, &keys, &ranges, pages, enough)
            .await
        {
            Ok(listed) => listed,
            Err(ProveKeyError::Read(error)) => return Err(error.into()),
            Err(_) => return Ok(None),
        };
        // Then what the index does not cover, as the time index gives it, up to where the
        // listing stopped.
        let mut leaves: Vec<u64> = listed.leaves;
        let end = listed.until.unwrap_or(u64::MAX);
        for range in &ranges {
            leaves.extend(range.start.max(listed.covered)..range.end.min(end));
        }
        Ok(Some(Candidates::Leaves(
            leaves_of(leaves),
            listed.until.or(beyond),
        )))
    }

    /// The verifiable index the view's checkpoint commits to, if it does and the index is at
    /// most [`MAX_UNINDEXED_TAIL`] entries behind the checkpoint (further behind, it is
    /// rebuilding, and a query by its keys would read too much past it).
    fn index_commitment(&self) -> Option<ledger::index::IndexCommitment> {
        let commitment = ledger_store::commitment_of_note(&self.view.checkpoint.note)?;
        let behind = self.view.size().get().saturating_sub(commitment.size.get());
        (behind <= MAX_UNINDEXED_TAIL).then_some(commitment)
    }

    /// The leaf ranges from leaf `from` on that may hold events of the query's event-time range
    /// (`GE_eventTime`, `LT_eventTime`), in order: up to `most` of the time index (a page reads
    /// [`RANGES_PER_PAGE`]), then, once the index has no more, the entries it did not cover when
    /// the view was taken. `None` when the query has no such range.
    async fn time_ranges(&self, from: u64, most: usize) -> Result<Option<Candidates>, Problem> {
        let (earliest, latest) = self.query.event_time_range();
        if earliest.is_none() && latest.is_none() {
            return Ok(None);
        }
        let earliest = earliest
            .and_then(Timestamp::from_unix_nanos)
            .or_else(|| Timestamp::parse("0000-01-01T00:00:00Z").ok());
        let latest = latest
            .and_then(Timestamp::from_unix_nanos)
            .or_else(|| Timestamp::parse("9999-12-31T23:59:59.999999999Z").ok());
        let (Some(earliest), Some(latest)) = (earliest, latest) else {
            return Ok(None);
        };
        let size = self.view.size().get();
        let indexed = self.view.indexed.min(size);
        let mut ranges = self
            .view
            .store
            .leaf_ranges_by_time_from(earliest, latest, from, most.saturating_add(1))
            .await?;
        ranges.retain(|range| range.start < indexed);
        for range in &mut ranges {
            range.end = range.end.min(indexed);
        }
        if ranges.len() > most {
            ranges.truncate(most);
            let beyond = ranges.last().map_or(from, |range| range.end);
            return Ok(Some(Candidates::Ranges(ranges, Some(beyond))));
        }
        ranges.push(indexed..size);
        Ok(Some(Candidates::Ranges(ranges, None)))
    }

    /// The leaves of `batch` the credential may read.
    async fn readable(&self, batch: &[LeafIndex]) -> Result<Vec<LeafIndex>, Problem> {
        if self.access.role == Role::Regulator {
            return Ok(batch.to_vec());
        }
        let attested = self.view.attestations(batch, &self.budget).await?;
        Ok(attested
            .into_iter()
            .filter(|(_, attestation)| {
                self.parties
                    .site_of(attestation)
                    .is_some_and(|site| self.access.may_read_site(site))
            })
            .map(|(leaf, _)| leaf)
            .collect())
    }

    /// The results among `batch`, in leaf order.
    async fn matching(&self, batch: &[LeafIndex]) -> Result<Vec<Hit>, Problem> {
        let readable = self.readable(batch).await?;
        if readable.is_empty() {
            return Ok(Vec::new());
        }
        // Matched where they are parsed: a query of many values (256 patterns in each of
        // several `MATCH_` parameters, say) costs more to match than to parse, and is done on
        // the slow lane sooner, never on an HTTP worker for long.
        let query = self.query.clone();
        let weight = 1 + query.comparisons() / COMPARISONS_PER_PARSE;
        let matched = self
            .view
            .stored_then(
                &readable,
                &self.budget,
                &self.state.lane,
                weight,
                move |entry| {
                    // An entry whose stored event is not the one its record commits to, or is
                    // not JSON, was changed behind the ledger's back: it is never served, and
                    // the answer is refused rather than told shorter.
                    if matches!(
                        entry.binding(),
                        ledger::record::EventBinding::Differs { .. }
                    ) {
                        return Some(Err((entry.leaf_index, NOT_AS_LOGGED)));
                    }
                    let captured = entry.record.captured_at().as_millis();
                    let record_time = Timestamp::from_unix_nanos(i128::from(captured) * 1_000_000);
                    let event = match Event::parse(entry.event.as_bytes()) {
                        Ok(event) => event,
                        Err(_) if serde_json::from_str::<Value>(&entry.event).is_err() => {
                            return Some(Err((entry.leaf_index, NOT_JSON)));
                        }
                        // JSON ingest took that this parser does not (an older event): left
                        // out, as before.
                        Err(_) => return None,
                    };
                    if !query.matches(&event, record_time) {
                        return None;
                    }
                    let key = query
                        .order()
                        .map_or(OrderKey::Missing, |order| order.key(&event, record_time));
                    Some(Ok((entry, event, key)))
                },
            )
            .await?;
        let matched: Vec<_> = matched
            .into_iter()
            .collect::<Result<_, (LeafIndex, &str)>>()
            .map_err(|(leaf, why)| {
                Problem::from(ledger_store::ReadError::Corrupt {
                    what: "entry",
                    reason: format!("entry {leaf}: its stored event {why}"),
                })
            })?;
        let size = self.view.size().get();
        Ok(matched
            .into_iter()
            .map(|(entry, event, key)| Hit {
                shown: Shown::of(&entry, &event, size, self.parties),
                key,
            })
            .collect())
    }

    /// A page of results in log order from leaf `from`, reading at most
    /// `limits.max_history_events` entries; and where the next page starts, if any may.
    async fn in_log_order(
        &self,
        candidates: &Candidates,
        from: u64,
        per_page: usize,
    ) -> Result<(Vec<Shown>, Option<u64>), Problem> {
        let mut results = Vec::new();
        let mut next = from;
        let mut examined = 0;
        loop {
            // As many as the page still needs (where most candidates match, a page loads little
            // more than it answers), at least a few dozen, at most a batch.
            let wanted = per_page
                .saturating_sub(results.len())
                .clamp(MIN_BATCH, BATCH);
            let batch = candidates.batch(next, wanted);
            let Some(last) = batch.last() else {
                // The ranges read are done; those left unread are the next page's.
                return Ok((results, candidates.beyond().map(|beyond| beyond.max(next))));
            };
            next = last.get() + 1;
            examined += batch.len();
            for found in self.matching(&batch).await? {
                let after = found.shown.leaf + 1;
                results.push(found.shown);
                if results.len() == per_page {
                    return Ok((results, candidates.more_from(after).then_some(after)));
                }
            }
            if examined >= self.state.limits.max_history_events {
                return Ok((results, candidates.more_from(next).then_some(next)));
            }
        }
    }

    /// A page of the ordered (or counted) results: every result is read and sorted, then the
    /// page from result `from` on is answered; and where the next page starts, if any.
    async fn ordered(
        &self,
        candidates: &Candidates,
        from: u64,
        per_page: usize,
    ) -> Result<(Vec<Shown>, Option<u64>), Problem> {
        let most = self.state.limits.max_history_events;
        let too_complex = || {
            Problem::Epcis(
                EpcisException::QueryTooComplex,
                format!(
                    "ordering or counting this query's results reads more than {most} entries: narrow it by an EPC (MATCH_epc, MATCH_anyEPC), a place (EQ_bizLocation, EQ_readPoint) or an event-time range, or leave out orderBy and maxEventCount to read it page by page"
                ),
            )
        };
        if candidates.beyond().is_some() {
            return Err(too_complex());
        }
        let mut all = Vec::new();
        let mut next = 0;
        let mut examined = 0;
        loop {
            let batch = candidates.batch(next, BATCH);
            let Some(last) = batch.last() else {
                break;
            };
            next = last.get() + 1;
            examined += batch.len();
            if examined > most {
                return Err(too_complex());
            }
            all.extend(self.matching(&batch).await?);
        }
        if let Some(Limit::AtMost(most)) = self.query.limit()
            && all.len() > most
        {
            return Err(Problem::Epcis(
                EpcisException::QueryTooLarge,
                format!(
                    "the query matches {} events, more than maxEventCount {most}",
                    all.len()
                ),
            ));
        }
        if let Some(order) = self.query.order() {
            all.sort_by(|a, b| {
                use std::cmp::Ordering;
                let by_key = match (&a.key, &b.key) {
                    // Events without the field come last, whichever the direction.
                    (OrderKey::Missing, OrderKey::Missing) => Ordering::Equal,
                    (OrderKey::Missing, _) => Ordering::Greater,
                    (_, OrderKey::Missing) => Ordering::Less,
                    (x, y) => {
                        let ordering = x.partial_cmp(y).unwrap_or(Ordering::Equal);
                        if order.ascending {
                            ordering
                        } else {
                            ordering.reverse()
                        }
                    }
                };
                // Events of one key in log order, reversed with the order (newest first).
                let by_leaf = a.shown.leaf.cmp(&b.shown.leaf);
                by_key.then(if order.ascending {
                    by_leaf
                } else {
                    by_leaf.reverse()
                })
            });
        }
        if let Some(Limit::First(first)) = self.query.limit() {
            all.truncate(first);
        }
        let start = usize::try_from(from).unwrap_or(usize::MAX).min(all.len());
        let end = start.saturating_add(per_page).min(all.len());
        let next = (end < all.len()).then_some(end as u64);
        let page = all
            .into_iter()
            .skip(start)
            .take(end - start)
            .map(|found| found.shown)
            .collect();
        Ok((page, next))
    }
}

/// Writes what a result event says of its entry: leaf index, event hash, the checkpoint's size,
/// who reported it (device when attested, site, organisation; `null` where the registry knows
/// none) and the declarations that withdrew it (when any did).
fn push_ledger_member(out: &mut String, entry: &StoredEntry, size: u64, parties: &Parties) {
    use std::fmt::Write as _;
    let optional = |out: &mut String, value: Option<&str>| match value {
        Some(value) => push_string(out, value),
        None => out.push_str("null"),
    };
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{{\"leafIndex\":{},\"eventHash\":",
        entry.leaf_index.get()
    );
    push_string(out, &entry.record.event_hash().to_ni_uri());
    let _ = write!(out, ",\"checkpointSize\":{size},\"reportedBy\":{{");
    let attestation = entry.record.attestation();
    match attestation {
        Attestation::Device { device, .. } => {
            out.push_str("\"device\":");
            push_string(out, device.as_str());
            out.push_str(",\"site\":");
            optional(out, parties.site_of(attestation).map(|site| site.as_str()));
        }
        Attestation::Unattested { site } => {
            out.push_str("\"site\":");
            push_string(out, site.as_str());
        }
    }
    out.push_str(",\"organisation\":");
    optional(out, parties.reporter(attestation).map(|org| org.as_str()));
    out.push('}');
    if !entry.declared_by.is_empty() {
        out.push_str(",\"declaredErroneousBy\":[");
        for (position, leaf) in entry.declared_by.iter().enumerate() {
            if position > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}", leaf.get());
        }
        out.push(']');
    }
    out.push('}');
}

/// A query whose identities or places are named by more entries than one answer's budget reads
/// (24 bytes a candidate) is `413 QueryTooComplexException`, read no further than that; other
/// failures as the view's.
fn narrower(error: crate::reader::ViewError) -> Problem {
    match error {
        crate::reader::ViewError::Budget(exceeded @ crate::budget::Exceeded::Answer { .. }) => {
            Problem::Epcis(
                EpcisException::QueryTooComplex,
                format!(
                    "more events name the identities or places the query asks for than one \
                     answer reads ({exceeded}): ask about fewer"
                ),
            )
        }
        error => error.into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use serde_json::json;

    fn access(token: &str) -> Access {
        Access {
            token: registry::TokenId::parse(token).unwrap(),
            role: Role::Regulator,
            sites: Vec::new(),
            expires_at: None,
            permissions: Permission::ALL.to_vec(),
        }
    }

    #[test]
    fn a_page_token_reads_back_only_unaltered_for_its_query_and_credential_until_it_expires() {
        let key = PageKey::generate().unwrap();
        let query = EventQuery::parse([("EQ_bizStep", "shipping")]).unwrap();
        let digest = query_digest(&query, &access("0123456789abcdef"));
        let token = PageToken {
            size: 1000,
            position: 42,
            expires: 2_000,
            query: digest,
        };
        let text = token.encode(&key);
        assert_eq!(
            PageToken::decode(&text, &key, &digest, 1_999).ok(),
            Some(token)
        );
        let refused = |text: &str, digest: &[u8; 16], now: u64| match PageToken::decode(
            text, &key, digest, now,
        ) {
            Err(Problem::Epcis(EpcisException::QueryParameter, why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(refused(&text, &digest, 2_000).contains("expired"));
        // Another credential, the same query.
        let other = query_digest(&query, &access("fedcba9876543210"));
        assert!(refused(&text, &other, 1_000).contains("another query or another credential"));
        // Every byte altered.
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&text)
            .unwrap();
        for at in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[at] ^= 1;
            let altered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(altered);
            refused(&altered, &digest, 1_000);
        }
        // Another instance's key.
        let other_key = PageKey::generate().unwrap();
        assert!(PageToken::decode(&token.encode(&other_key), &key, &digest, 1_000).is_err());
        assert!(refused("not a token", &digest, 1_000).contains("not a token"));
    }

    #[test]
    fn every_query_resource_is_a_registered_route() {
        for (route, parameter) in RESOURCES {
            assert!(crate::routes::ROUTES.contains(&route), "{route}");
            // A parameter of the query (a value of the wrong kind may be refused, the name not).
            if let Err(error) = EventQuery::parse([(parameter, "x")]) {
                assert!(
                    !error.reason.contains("not a parameter"),
                    "{parameter}: {error}"
                );
            }
        }
    }

    /// What a result event was before it was spliced: its stored event parsed, `recordTime`
    /// added where absent, the ledger member set (last: one of its name the event had is left
    /// out).
    fn as_parsed(entry: &StoredEntry, size: u64, parties: &Parties) -> Value {
        let mut map: Map<String, Value> = serde_json::from_str(&entry.event).unwrap();
        map.shift_remove(LEDGER_MEMBER);
        map.entry("recordTime".to_owned())
            .or_insert_with(|| json!(entry.record.captured_at().to_rfc3339()));
        let Attestation::Unattested { site } = entry.record.attestation() else {
            panic!("the test's entries are unattested");
        };
        let mut member = json!({
            "leafIndex": entry.leaf_index.get(),
            "eventHash": entry.record.event_hash().to_ni_uri(),
            "checkpointSize": size,
            "reportedBy": {
                "site": site.as_str(),
                "organisation": parties.reporter(entry.record.attestation()).map(|o| o.as_str()),
            },
        });
        if !entry.declared_by.is_empty() {
            let leaves: Vec<u64> = entry.declared_by.iter().map(|leaf| leaf.get()).collect();
            member["declaredErroneousBy"] = json!(leaves);
        }
        map.insert(LEDGER_MEMBER.to_owned(), member);
        Value::Object(map)
    }

    #[test]
    fn a_result_event_is_its_stored_text_with_its_members_written_in() {
        let parties = Parties::new();
        let site = ledger::ids::SiteId::parse("site-a").unwrap();
        let entry = |leaf: u64, text: &str, declared_by: &[u64]| StoredEntry {
            leaf_index: LeafIndex::new(leaf).unwrap(),
            record: ledger::record::LeafRecord::new(
                epcis::EventHash::from_bytes([7; 32]),
                text.as_bytes(),
                UnixMillis::from_millis(1_764_300_000_123),
                Attestation::Unattested { site: site.clone() },
            )
            .unwrap(),
            event: text.into(),
            declares: None,
            declared_by: declared_by
                .iter()
                .map(|leaf| LeafIndex::new(*leaf).unwrap())
                .collect(),
        };
        let plain = r#"{"type":"ObjectEvent","eventTime":"2026-11-28T01:00:00Z","eventTimeZoneOffset":"+00:00","epcList":["urn:epc:id:sgtin:0614141.107346.2017"],"action":"OBSERVE","bizStep":"shipping"}"#;
        let cases = [
            // As ingest stores it: served byte for byte, the members written in before its
            // closing brace, in the order they were inserted before.
            (entry(3, plain, &[]), true),
            (entry(4, plain, &[9, 12]), true),
            // With its own recordTime: kept, none added.
            (
                entry(
                    5,
                    r#"{"type":"ObjectEvent","recordTime":"2026-11-28T02:00:00Z","eventTime":"2026-11-28T01:00:00Z","eventTimeZoneOffset":"+00:00","action":"OBSERVE"}"#,
                    &[],
                ),
                true,
            ),
            // Escapes and spaces another writer left: the stored bytes are kept as they are.
            (
                entry(
                    6,
                    "{ \"type\": \"ObjectEvent\", \"eventTime\": \"2026-11-28T01:00:00Z\", \"eventTimeZoneOffset\": \"+00:00\", \"action\": \"OBSERVE\", \"note\": \"caf\\u00e9\" }\n",
                    &[],
                ),
                false,
            ),
            // A member of the ledger's name already there is left out, the ledger's written in.
            (
                entry(
                    7,
                    &format!(
                        r#"{{"type":"ObjectEvent","{LEDGER_MEMBER}":{{"leafIndex":1}},"eventTime":"2026-11-28T01:00:00Z","eventTimeZoneOffset":"+00:00","action":"OBSERVE"}}"#
                    ),
                    &[],
                ),
                true,
            ),
        ];
        let mut shown = Vec::new();
        let mut expected = Vec::new();
        for (entry, byte_for_byte) in &cases {
            let event = Event::parse(entry.event.as_bytes()).unwrap();
            let result = Shown::of(entry, &event, 100, &parties);
            assert_eq!(result.leaf, entry.leaf_index.get());
            let before = as_parsed(entry, 100, &parties);
            let parsed: Value = serde_json::from_str(&result.text).unwrap();
            assert_eq!(parsed, before, "{}", result.text);
            // Member order too (the map keeps it).
            let keys = |value: &Value| -> Vec<String> {
                value.as_object().unwrap().keys().cloned().collect()
            };
            assert_eq!(keys(&parsed), keys(&before));
            if *byte_for_byte {
                assert_eq!(result.text, before.to_string());
            } else {
                assert!(
                    result
                        .text
                        .starts_with(entry.event.trim_end().trim_end_matches('}'))
                );
            }
            expected.push(before);
            shown.push(result);
        }
        // The document, as it was written before: a subscription's (its id after the results)
        // and a page's, of the events and of none.
        let name = "a \"eventList\":[] name";
        for (id, events) in [
            (Some("sub-1"), &shown[..]),
            (None, &shown[..]),
            (None, &[][..]),
        ] {
            let written: Value =
                serde_json::from_str(&query_document(name, id, "2026-11-28T03:00:00Z", events))
                    .unwrap();
            let list: Vec<&Value> = expected.iter().take(events.len()).collect();
            let mut results = json!({"queryName": name, "resultsBody": {"eventList": list}});
            if let Some(id) = id {
                results["subscriptionID"] = json!(id);
            }
            let before = json!({
                "@context": [epcis::EPCIS_CONTEXT_URL],
                "type": "EPCISQueryDocument",
                "schemaVersion": "2.0",
                "creationDate": "2026-11-28T03:00:00Z",
                "epcisBody": {"queryResults": results},
            });
            assert_eq!(written.to_string(), before.to_string());
        }
    }

    #[test]
    fn candidates_come_in_leaf_order_from_where_the_page_starts() {
        let leaves = |ids: &[u64]| -> Vec<LeafIndex> {
            ids.iter()
                .filter_map(|id| LeafIndex::new(*id).ok())
                .collect()
        };
        let listed = Candidates::Leaves(leaves(&[3, 7, 9, 20]), None);
        assert_eq!(listed.batch(0, 2), leaves(&[3, 7]));
        assert_eq!(listed.batch(8, 10), leaves(&[9, 20]));
        assert!(listed.batch(21, 10).is_empty());
        assert!(!listed.more_from(21) && listed.more_from(20));
        let unread = Candidates::Ranges(vec![0..2, 2..3], Some(3));
        assert!(unread.batch(3, 10).is_empty() && unread.more_from(3));
        let ranges = Candidates::Ranges(vec![0..3, 10..12], None);
        assert_eq!(ranges.batch(1, 10), leaves(&[1, 2, 10, 11]));
        assert_eq!(ranges.batch(0, 2), leaves(&[0, 1]));
        assert_eq!(ranges.batch(11, 10), leaves(&[11]));
    }
}
