//! `GET /01/{gtin}/21/{serial}` and `GET /00/{sscc}`: what a consumer's scan of a GS1 Digital
//! Link (the QR code on the product, the URL an NFC tag gives) reaches when the link's domain
//! resolves here, answered as a GS1-Conformant Resolver answers:
//! - no `linkType`, or `linkType=gs1:verificationService` (the default link) or
//!   `gs1:recallStatus`: the verdict on the item (`ledger::verdict`: genuine, suspicious, unknown
//!   or not anchored yet, with its reasons), whether it is under recall (`recalled`, and the
//!   first reason), its journey, and where its history and the bundle that proves it are;
//! - `linkType=linkset` (or `all`), or `Accept: application/linkset+json` without a `linkType`:
//!   the RFC 9264 linkset of what is served for the item, as `application/linkset+json`;
//! - `linkType=gs1:traceability` (the history) or the provenance bundle's link type: a `307` to
//!   it. The query string is not passed on: both targets are this service's own routes, which
//!   refuse parameters they do not take (a tap's data would make the target a `400`);
//! - any other link type: `404`, there is no such link.
//!
//! Every answer carries a `Link` header naming the linkset, and allows any origin (CORS);
//! `OPTIONS` answers the preflight. `GET /.well-known/gs1resolver` describes the resolver.
//!
//! A compressed link (`/{compressed}`, `/01/{gtin}/{compressed}`, `/00/{sscc}/{compressed}`) is
//! decoded and answered as its uncompressed link, at its own URI, naming the uncompressed link
//! in `Link` as `owl:sameAs` ([`compressed`]).
//!
//! A link whose syntax or check digit is wrong is a `400` problem, never a page that says
//! "error"; an item no event names is answered, as `unknown`, and so is one whose history is
//! refused as too much to read: the verdict is data. The rest of the query string is accepted:
//! an NFC tag's Secure Unique NFC message in it (`picc_data`/`cmac` or `e`/`c`) is checked and
//! its counter spent (`crate::scans`) by a `GET` of the verdict only, never by `HEAD`, the
//! linkset or a redirect; what came of it weighs in the verdict. Such a `GET` is also kept as a
//! consumer's scan (nothing personal: `registry::scans`), and the item's kept scans weigh in the
//! verdict (`copied_label`, `scanned_far_apart`).

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use epcis::digital_link::DigitalLink;
use ledger::history::{Authority, History, HistoryEvent, Item, RecalledClass, Why};
use ledger::size::LeafIndex;
use ledger::verdict::{self, Facts};
use ledger_store::StoredEntry;

use super::items::{client, events_of, json_answer, registry_problem};
use crate::negotiate::link_type;
use crate::problem::Problem;
use crate::startup::AppState;

/// The domain the path is read under: the GS1 resolver's, whose Digital Links any domain may
/// stand in for (GS1 Digital Link 1.x: the path is what identifies).
const LINK_DOMAIN: &str = "https://id.gs1.org";

/// The GS1 Web Vocabulary, whose link types the linkset names.
const GS1_VOC: &str = "https://ref.gs1.org/voc/";

/// The link type of the provenance bundle (GS1 defines none for it).
const BUNDLE_LINK_TYPE: &str = "https://tagtrail.dev/voc/provenanceBundle";

/// The JSON-LD context that turns a GS1 linkset into JSON-LD.
const LINKSET_CONTEXT: &str = "https://ref.gs1.org/standards/resolver/linkset-context";

/// How much of a refused path a `400` repeats.
const ECHOED_PATH: usize = 200;

/// What a request of a resolver route asks for.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    /// The verdict (the default link, `gs1:verificationService`).
    Verdict,
    /// The linkset.
    Linkset,
    /// The item's history (`gs1:traceability`).
    History,
    /// Its provenance bundle.
    Bundle,
    /// A link type this resolver has no link of.
    Other(String),
}

impl Asked {
    /// From the `linkType` of the link's `query` (a CURIE `gs1:...`, or the full URI) and the
    /// request's `Accept`.
    fn of(request: &HttpRequest, query: &str) -> Self {
        let accept = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let Some(link_type) = link_type(query) else {
            return match accept.contains("application/linkset+json") {
                true => Self::Linkset,
                false => Self::Verdict,
            };
        };
        let term = link_type
            .strip_prefix("gs1:")
            .or_else(|| link_type.strip_prefix(GS1_VOC))
            .or_else(|| link_type.strip_prefix("https://gs1.org/voc/"));
        match (link_type.as_str(), term) {
            ("linkset" | "all", _) => Self::Linkset,
            // The verdict says first whether the item is under recall (`recalled`, and the
            // reason of that code with its entries).
            (_, Some("verificationService" | "defaultLink" | "recallStatus")) => Self::Verdict,
            (_, Some("traceability")) => Self::History,
            (BUNDLE_LINK_TYPE, _) => Self::Bundle,
            _ => Self::Other(link_type),
        }
    }
}

/// The resolver's root as the request reached it (`https://host`). The host (from `Host`, or
/// the forwarding headers an edge sets) goes into `Location`, `Link` and linkset answers: one
/// that is not a host name or address with an optional port (a `Host` carrying `>;` or a
/// space, say, to add parameters to `Link`) gives way to the name the service was started
/// with.
fn root(request: &HttpRequest) -> String {
    let connection = request.connection_info();
    let host = connection.host();
    let plausible = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-:[]".contains(&byte));
    let scheme = match connection.scheme() {
        "https" => "https",
        _ => "http",
    };
    match plausible {
        true => format!("{scheme}://{host}"),
        false => format!("{scheme}://{}", request.app_config().host()),
    }
}

/// The item a resolver path names, or the `400` problem of a path that names none.
fn linked_item(request: &HttpRequest) -> Result<Item, Problem> {
    // The path as sent (still percent-encoded): the Digital Link's own syntax decides.
    let path = request.uri().path();
    Item::parse(&format!("{LINK_DOMAIN}{path}")).map_err(|error| {
        let shown: String = path.chars().take(ECHOED_PATH).collect();
        Problem::BadRequest(format!(
            "{shown} is not a GS1 Digital Link of one item: {error}"
        ))
    })
}

/// The `Link` header value naming the linkset of `anchor`.
fn linkset_link(anchor: &str) -> String {
    format!("<{anchor}?linkType=linkset>; rel=\"linkset\"; type=\"application/linkset+json\"")
}

/// `linkset_link` as a header (a host that is no header text gives a relative link).
fn linkset_header(anchor: &str) -> HeaderValue {
    HeaderValue::from_str(&linkset_link(anchor)).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "<?linkType=linkset>; rel=\"linkset\"; type=\"application/linkset+json\"",
        )
    })
}

/// `OPTIONS` of a resolver route: what it allows, for a browser's CORS preflight. A path that
/// names no item is the `400` its `GET` would be.
pub(super) async fn options(request: HttpRequest) -> Result<HttpResponse, Problem> {
    match request.match_pattern() {
        Some(route) if route == "/.well-known/gs1resolver" => {}
        Some(route) if is_class_route(&route) => {
            linked_class(&request)?;
        }
        Some(route) if is_compressed_route(&route) => {
            // What the link names is checked as its `GET` checks it.
            let (link, class) = decoded(&request)?;
            match class {
                true => linked_class(&request).map(drop)?,
                false => uncompressed_item(&request, &link).map(drop)?,
            }
        }
        _ => {
            linked_item(&request)?;
        }
    }
    let anchor = format!("{}{}", root(&request), request.uri().path());
    Ok(HttpResponse::NoContent()
        .insert_header((header::ALLOW, "GET, HEAD, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Accept, Accept-Language",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .insert_header((header::LINK, linkset_header(&anchor)))
        .finish())
}

/// `GET /.well-known/gs1resolver`: the resolver description file (GS1-Conformant Resolver).
pub(super) async fn description(request: HttpRequest) -> HttpResponse {
    let body = json!({
        "name": "tagtrail trace-api",
        "resolverRoot": root(&request),
        "supportedPrimaryKeys": ["01", "00"],
        "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"}],
        "linkTypeDefaultCanBeLinkset": false,
        "jsonLdContextLocation": LINKSET_CONTEXT,
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body.to_string())
}

/// The linkset of what `anchor` names (RFC 9264, as GS1's linkset schema constrains it): the
/// verdict (also the default link) and, for an item (`id`), its history and provenance bundle at
/// `root`'s routes under `id`. A lot or a product has neither.
fn linkset(anchor: &str, root: &str, id: Option<&str>, description: String) -> Value {
    // A lot or a product names no object whose genuineness could be judged: its link says
    // whether it is recalled.
    let title = match id {
        Some(_) => "Is it genuine? The verdict on this item, with its reasons",
        None => "Is it recalled? What is known of this lot or product, with the reasons",
    };
    let verdict = json!([{
        "href": format!("{anchor}?linkType=gs1:verificationService"),
        "title": title,
        "type": "application/json",
    }]);
    let mut links = serde_json::Map::new();
    links.insert("anchor".to_owned(), json!(anchor));
    links.insert("itemDescription".to_owned(), json!(description));
    links.insert(format!("{GS1_VOC}defaultLink"), verdict.clone());
    links.insert(format!("{GS1_VOC}verificationService"), verdict);
    links.insert(
        format!("{GS1_VOC}recallStatus"),
        json!([{
            "href": format!("{anchor}?linkType=gs1:recallStatus"),
            "title": "Is it recalled? The verdict, whose `recalled` says so first",
            "type": "application/json",
        }]),
    );
    if let Some(id) = id {
        links.insert(
            format!("{GS1_VOC}traceability"),
            json!([{
                "href": format!("{root}/items/{id}/history"),
                "title": "Its custody history",
                "type": "application/json",
            }]),
        );
        links.insert(
            BUNDLE_LINK_TYPE.to_owned(),
            json!([{
                "href": format!("{root}/items/{id}/bundle"),
                "title": "Its provenance bundle: every event with the proofs to check it",
                "type": "application/json",
            }]),
        );
    }
    json!({ "linkset": [Value::Object(links)] })
}

/// The text of a request's header `name`; empty when it has none or it is no text.
fn header_text<'r>(request: &'r HttpRequest, name: &str) -> &'r str {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// A linkset as the answer, with the JSON-LD context that makes it JSON-LD in `Link`.
fn linkset_answer(anchor: &str, linkset: Value) -> HttpResponse {
    let links = format!(
        "{}, <{LINKSET_CONTEXT}>; rel=\"http://www.w3.org/ns/json-ld#context\"; \
         type=\"application/ld+json\"",
        linkset_link(anchor)
    );
    let mut answer = HttpResponse::Ok();
    answer.content_type("application/linkset+json");
    // Chosen by `Accept` (or `linkType`), and naming the host it was asked at: no cache may
    // keep it for another request.
    answer.insert_header((header::VARY, "Accept"));
    answer.insert_header((header::CACHE_CONTROL, "no-cache"));
    if let Ok(links) = HeaderValue::from_str(&links) {
        answer.insert_header((header::LINK, links));
    }
    answer.body(linkset.to_string())
}

/// `GET /01/{gtin}/21/{serial}`, `GET /00/{sscc}`: what the link's `linkType` asks for (the
/// verdict by default).
pub(super) async fn verdict(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let item = linked_item(&request)?;
    item_answer(&request, &state, request.query_string(), item).await
}

/// The answer of a resolver path that names `item`, with `query` as the link's query string.
async fn item_answer(
    request: &HttpRequest,
    state: &web::Data<AppState>,
    query: &str,
    item: Item,
) -> Result<HttpResponse, Problem> {
    let root = root(request);
    let anchor = format!("{root}{}", request.uri().path());
    // The link itself names the item for the other routes (an EPC URI would name one split of
    // its company prefix).
    let id = segment(&item.asked);
    let redirect = |target: String| {
        HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, target))
            .insert_header((header::LINK, linkset_header(&anchor)))
            .finish()
    };
    match Asked::of(request, query) {
        Asked::Verdict => {}
        Asked::Linkset => {
            let description = format!("{} {}", item.form.name(), item.asked);
            return Ok(linkset_answer(
                &anchor,
                linkset(&anchor, &root, Some(&id), description),
            ));
        }
        Asked::History => return Ok(redirect(format!("{root}/items/{id}/history"))),
        Asked::Bundle => return Ok(redirect(format!("{root}/items/{id}/bundle"))),
        Asked::Other(link_type) => {
            let shown: String = link_type.chars().take(ECHOED_PATH).collect();
            return Err(Problem::NotFound(format!(
                "no link of type {shown} for {}: this resolver has gs1:verificationService (the \
                 default), gs1:traceability, {BUNDLE_LINK_TYPE} and the linkset",
                item.asked
            )));
        }
    }
    let view = state.views.latest(&state.store).await?;
    // A history refused as too much to read is judged as that: unknown, saying why.
    let (history, refused) = match events_of(
        state,
        client(request),
        &view,
        &item,
        state.limits.max_history_events,
        super::items::Splits::Registered,
    )
    .await
    {
        Ok(history) => (history, None),
        Err(Problem::TooMuch(why)) => (History::default(), Some(why)),
        Err(problem) => return Err(problem),
    };
    let anchored = view
        .anchored
        .as_ref()
        .map(|anchored| anchored.consistency.old_size().get());
    let (parties, places) = state
        .parties
        .with_places(&state.registry)
        .await
        .map_err(registry_problem)?;
    // The recalls of its lot and its product, which name no item and so are in no history.
    let classes = ledger::history::item_classes(&item.names, &lots_of(&item, &history));
    let budget = state.budget.answer_for(client(request));
    let class_recalls = super::class_recalls::read(
        state,
        &view,
        &parties,
        &budget,
        &super::class_recalls::names_of(&classes),
    )
    .await?;
    let scanned = *request.method() == actix_web::http::Method::GET;
    let link = item
        .names
        .iter()
        .find(|name| registry::nfc::is_scanned_item(name))
        .cloned();
    // Scans are kept, and read, for items the log has events of (a history refused as too
    // long has them too): a scan of a serial nothing names weighs in no verdict (it is
    // `never_commissioned` whatever was scanned), and a flood of made-up serials keeps nothing.
    let kept = scanned && (!history.events.is_empty() || refused.is_some());
    let mut consumer_scans = match (&state.scans, &link, kept) {
        (Some(_), Some(link), true) => kept_scans(state, link).await?,
        _ => Vec::new(),
    };
    // The tap's counter is spent only once everything else the answer needs was read: a
    // failed answer does not leave the consumer a spent tap.
    let tap = match scanned {
        true => {
            crate::scans::Scans::check_tap(state.scans.as_ref(), query, &item.names, &state.metrics)
                .await
        }
        false => None,
    };
    let header_text = |name: &str| header_text(request, name);
    if let (Some(scans), Some(link), true) = (&state.scans, link, kept) {
        let peer = request.peer_addr().map(|peer| peer.ip());
        let this = scans.keep(link, tap.as_ref(), peer, header_text, &state.metrics);
        consumer_scans.push(this);
    }
    let size = view.size().get();
    // Judging and writing grow with the history: a long one is done on the slow lane.
    let bytes = history.events.len() * 512;
    let html = super::page::wants_html(header_text(header::ACCEPT.as_str()))
        .then(|| super::page::Language::of(header_text(header::ACCEPT_LANGUAGE.as_str())));
    let checkpoint_keys = state.checkpoint_keys.clone();
    let body = state
        .lane
        // The tap's counter is spent: the answer is judged in place if the lane is full.
        .run_sized_or_here(bytes, move || {
            let judgement = judge(
                &history,
                &item,
                refused.as_deref(),
                anchored,
                &places,
                tap.as_ref(),
                &consumer_scans,
                (&classes, class_recalls.as_deref().map_err(String::as_str)),
            );
            let answer = json!({
                "item": {
                    "asked": item.asked,
                    "form": item.form.name(),
                    "epcs": item.epcs,
                },
                "verdict": judgement.verdict,
                "recalled": judgement.recalled(),
                "reasons": judgement.reasons,
                "checkpoint": {
                    "treeSize": size,
                    "anchoredTreeSize": anchored,
                },
                "journey": history
                    .events
                    .iter()
                    .map(|event| step(event, history.withdrawn.get(&event.event.leaf).copied()))
                    .collect::<Vec<Value>>(),
                "links": {
                    "history": format!("/items/{id}/history"),
                    "bundle": format!("/items/{id}/bundle"),
                },
            });
            match html {
                Some(language) => {
                    Ok(super::page::render(&answer, language, &checkpoint_keys).into_bytes())
                }
                None => serde_json::to_vec(&answer),
            }
        })
        .await?
        .map_err(|error| Problem::internal(&error))?;
    Ok(respond(body, html.is_some(), &anchor))
}

/// The answer of a verdict: `body` as the page (`html`) or as JSON, naming the linkset of
/// `anchor`.
fn respond(body: Vec<u8>, html: bool, anchor: &str) -> HttpResponse {
    let mut answer = match html {
        // The page: its one script, no external asset, nothing framed.
        true => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                super::page::CONTENT_SECURITY_POLICY.as_str(),
            ))
            .body(body),
        false => json_answer(body),
    };
    let headers = answer.headers_mut();
    headers.insert(header::LINK, linkset_header(anchor));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Language"),
    );
    answer
}

/// The class a resolver path without a serial names (its canonical Digital Link, its lot and
/// its classes: the lot's and the product's, or the product's), or the `400` problem of a path
/// that names none.
fn linked_class(
    request: &HttpRequest,
) -> Result<(String, Option<String>, Vec<RecalledClass>), Problem> {
    let path = request.uri().path();
    let refuse = |why: String| {
        let shown: String = path.chars().take(ECHOED_PATH).collect();
        Problem::BadRequest(format!(
            "{shown} is not a GS1 Digital Link of a lot or a product: {why}"
        ))
    };
    let link = DigitalLink::parse_any(&format!("{LINK_DOMAIN}{path}"))
        .map_err(|error| refuse(error.to_string()))?;
    let lot = link.qualifier("10").map(str::to_owned);
    let canonical = link.canonical();
    let classes = ledger::history::item_classes(std::slice::from_ref(&canonical), lot.as_slice());
    if classes.is_empty() {
        return Err(refuse("it names no GS1 trade item".to_owned()));
    }
    Ok((canonical, lot, classes))
}

/// Whether a resolver route is one of a compressed link: the link compressed into one segment
/// (`/{compressed}`), or a GTIN or an SSCC before the segment that holds the rest.
pub(super) fn is_compressed_route(route: &str) -> bool {
    route.ends_with(COMPRESSED_SEGMENT)
}

/// Whether `path` is a whole GS1 Digital Link compressed into one segment (`/{compressed}`) that
/// decodes. A segment longer than a compressed link may be is refused before it is decoded.
pub(super) fn is_whole_compressed_link(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|segment| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
            && epcis::digital_link::decompress(&format!("{LINK_DOMAIN}{path}")).is_ok()
    })
}

/// The last segment of a compressed link's route: base64url characters.
const COMPRESSED_SEGMENT: &str = "{compressed:[A-Za-z0-9_-]+}";

/// The link a compressed resolver path decodes to, and whether it names a class (a lot or a
/// product) rather than one item. It must name what an uncompressed resolver route names: a
/// GTIN alone, with its lot, its serial or both, or an SSCC; anything else is a `404`, as its
/// uncompressed path is. A whole path that does not decode (`/{compressed}`, which any
/// mistyped route of this service also matches) is the `404` of no such resource, saying why
/// it is no compressed link either; one after a key (`/01/{gtin}/{compressed}`) is a `400`.
fn decoded(request: &HttpRequest) -> Result<(DigitalLink, bool), Problem> {
    let path = request.uri().path();
    let shown = || path.chars().take(ECHOED_PATH).collect::<String>();
    let whole = path.matches('/').count() == 1;
    let link =
        epcis::digital_link::decompress(&format!("{LINK_DOMAIN}{path}")).map_err(|error| {
            match whole {
                true => Problem::NotFound(format!(
                    "no such resource: {} is no route of this service (see /openapi.json), nor a \
                 compressed GS1 Digital Link: {error}",
                    shown()
                )),
                false => Problem::BadRequest(format!(
                    "{} is not a compressed GS1 Digital Link: {error}",
                    shown()
                )),
            }
        })?;
    let keys: Vec<String> = std::iter::once(link.primary_key())
        .chain(link.qualifiers())
        .map(|key| key.ai().as_str().to_owned())
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let class = match keys.as_slice() {
        ["01"] | ["01", "10"] => true,
        ["01", "21"] | ["01", "10", "21"] | ["00"] => false,
        _ => {
            return Err(Problem::NotFound(format!(
                "{} is the compressed GS1 Digital Link {}: this resolver answers for a GTIN \
                 alone, with its lot, its serial or both, and for an SSCC",
                shown(),
                link.canonical()
            )));
        }
    };
    Ok((link, class))
}

/// The item a compressed link names, as its uncompressed link names it: the history and bundle
/// its answer links to, and the page's check on the consumer's device, are that link's.
fn uncompressed_item(request: &HttpRequest, link: &DigitalLink) -> Result<Item, Problem> {
    Item::parse(&link.canonical()).map_err(|error| {
        let shown: String = request.uri().path().chars().take(ECHOED_PATH).collect();
        Problem::BadRequest(format!(
            "{shown} is not a GS1 Digital Link of one item: {error}"
        ))
    })
}

/// `GET /{compressed}`, `GET /01/{gtin}/{compressed}`, `GET /00/{sscc}/{compressed}`: a
/// compressed GS1 Digital Link (as a QR code too small for the whole link carries it), answered
/// at its own URI as its uncompressed link is: not redirected to it (GS1-Conformant Resolver),
/// but naming it in `Link` as `owl:sameAs`. The answer's item is the uncompressed link's (its
/// `asked` is that link). Non-GS1 parameters packed into the segment (`linkType`) count as
/// query-string parameters after the request's own: a `linkType` in the query string wins.
pub(super) async fn compressed(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (link, class) = decoded(&request)?;
    // The request's own parameters first: a `linkType` asked for wins over a packed one.
    let query: Vec<String> = std::iter::once(request.query_string().to_owned())
        .filter(|asked| !asked.is_empty())
        .chain(
            link.other_parameters()
                .iter()
                .map(|(name, value)| format!("{}={}", segment(name), segment(value))),
        )
        .collect();
    let query = query.join("&");
    let mut answer = match class {
        true => class_answer(&request, &state, &query).await?,
        false => {
            let item = uncompressed_item(&request, &link)?;
            item_answer(&request, &state, &query, item).await?
        }
    };
    // The uncompressed link on this resolver: its key path, then its data attributes and
    // packed parameters (the link decoded on `LINK_DOMAIN` has that base).
    let uncompressed = link.to_string();
    let uncompressed = uncompressed
        .strip_prefix(LINK_DOMAIN)
        .unwrap_or(&uncompressed);
    let same_as = format!("<{}{uncompressed}>; rel=\"owl:sameAs\"", root(&request));
    if let Ok(same_as) = HeaderValue::from_str(&same_as) {
        answer.headers_mut().append(header::LINK, same_as);
    }
    Ok(answer)
}

/// Whether a resolver route names a class (a lot or a product), not one item.
pub(super) fn is_class_route(route: &str) -> bool {
    matches!(route, "/01/{gtin}/10/{lot}" | "/01/{gtin}")
}

/// `GET /01/{gtin}/10/{lot}` and `GET /01/{gtin}`: a link naming a lot of a product, or the
/// product alone (no serial), as printed on packs that carry no serial number. No object is
/// named, so nothing says whether one is genuine (`names_a_class`); what is said is whether the
/// lot, or the whole product, is under recall (`recalled`, first, as for an item), and, for the
/// product alone, which of its lots are (`lots_recalled`). `linkType` as for an item, but a lot
/// or a product has no history and no bundle: those link types are `404`s.
pub(super) async fn class_verdict(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    class_answer(&request, &state, request.query_string()).await
}

/// The answer of a resolver path that names a lot or a product, with `query` as the link's
/// query string.
async fn class_answer(
    request: &HttpRequest,
    state: &web::Data<AppState>,
    query: &str,
) -> Result<HttpResponse, Problem> {
    let path = request.uri().path();
    let (canonical, lot, classes) = linked_class(request)?;
    let gtin = classes[0].gtin.clone();
    let form = match lot {
        Some(_) => "lot",
        None => "product",
    };
    let root = root(request);
    let anchor = format!("{root}{path}");
    match Asked::of(request, query) {
        Asked::Verdict => {}
        Asked::Linkset => {
            let description = format!("{form} {canonical}");
            return Ok(linkset_answer(
                &anchor,
                linkset(&anchor, &root, None, description),
            ));
        }
        Asked::History | Asked::Bundle | Asked::Other(_) => {
            let asked = link_type(query).unwrap_or_default();
            let shown: String = asked.chars().take(ECHOED_PATH).collect();
            return Err(Problem::NotFound(format!(
                "no link of type {shown} for a {form}: this resolver has \
                 gs1:verificationService (the default), gs1:recallStatus and the linkset; an \
                 item's history and bundle are at its own link, with its serial"
            )));
        }
    }
    let view = state.views.latest(&state.store).await?;
    let parties = state
        .parties
        .get(&state.registry)
        .await
        .map_err(registry_problem)?;
    // A lot: its own recalls and its product's; the product alone: every class recall of it.
    let names = match &lot {
        Some(_) => super::class_recalls::names_of(&classes),
        None => vec![RecalledClass::any_of(&gtin)],
    };
    let budget = state.budget.answer_for(client(request));
    let recalls = super::class_recalls::read(state, &view, &parties, &budget, &names).await?;
    let anchored = view
        .anchored
        .as_ref()
        .map(|anchored| anchored.consistency.old_size().get());
    let history: History<Arc<StoredEntry>> = History::default();
    let judgement = verdict::judge(&Facts {
        history: &history,
        names: &[],
        refused: None,
        anchored,
        place: &|_| None,
        withdrawn: &|_| false,
        unbound: &|_| false,
        tap: None,
        scans: &[],
        classes: &classes,
        class_recalls: recalls.as_deref().map_err(String::as_str),
        class_link: true,
    });
    let answer = json!({
        "item": {
            "asked": canonical,
            "form": form,
            "epcs": [],
        },
        "verdict": judgement.verdict,
        "recalled": judgement.recalled(),
        "reasons": judgement.reasons,
        "checkpoint": {
            "treeSize": view.size().get(),
            "anchoredTreeSize": anchored,
        },
        "journey": [],
        "links": {},
    });
    let header_text = |name: &str| header_text(request, name);
    let html = super::page::wants_html(header_text(header::ACCEPT.as_str()));
    let body = match html {
        true => {
            let language = super::page::Language::of(header_text(header::ACCEPT_LANGUAGE.as_str()));
            super::page::render(&answer, language, &state.checkpoint_keys).into_bytes()
        }
        false => serde_json::to_vec(&answer).map_err(|error| Problem::internal(&error))?,
    };
    Ok(respond(body, html, &anchor))
}

/// The verdict on `item` from its history. An entry counts as withdrawn when the history says an
/// error declaration withdrew it ([`ledger::history::withdrawals`]): one with authority, by its
/// own reporter or a party acting for it (a custodian cannot withdraw another party's sighting of
/// what it holds).
#[allow(clippy::too_many_arguments)] // the facts of a verdict, each from its own source
fn judge(
    history: &History<Arc<StoredEntry>>,
    item: &Item,
    refused: Option<&str>,
    anchored: Option<u64>,
    places: &registry::Places,
    tap: Option<&ledger::nfc::TapCheck>,
    scans: &[verdict::ConsumerScan],
    (classes, class_recalls): (&[RecalledClass], ClassRecalls<'_>),
) -> verdict::Judgement {
    let events: HashMap<LeafIndex, &HistoryEvent<Arc<StoredEntry>>> = history
        .events
        .iter()
        .map(|event| (event.event.leaf, event))
        .collect();
    let withdrawn = |leaf: LeafIndex| history.withdrawn.contains_key(&leaf);
    let place = |location: &str| places.of(location);
    // An event the store gives other than its leaf record commits to (a damaged or altered
    // database) is no evidence.
    let unbound = |leaf: LeafIndex| {
        events.get(&leaf).is_some_and(|event| {
            matches!(
                event.event.payload.binding(),
                ledger::record::EventBinding::Differs { .. }
            )
        })
    };
    verdict::judge(&Facts {
        history,
        names: &item.names,
        refused,
        anchored,
        place: &place,
        withdrawn: &withdrawn,
        unbound: &unbound,
        tap,
        scans,
        classes,
        class_recalls,
        class_link: false,
    })
}

/// The recalls of an item's classes as the verdict takes them, or why they were not read.
type ClassRecalls<'a> = Result<&'a [HistoryEvent<Arc<StoredEntry>>], &'a str>;

/// The most lots an item's scan reads recalls of (its link's, and those its commissioning with
/// authority gave it; more than one is already a contradiction the recall of either covers).
const MAX_LOTS: usize = 8;

/// The lots of the item: those its commissioning with authority gives it (`cbvmda:lotNumber` in
/// its ILMD); when that gives none, its link's (`/10/`). A link's lot is what anyone may type:
/// it does not put an item whose lot the log knows under another lot's recall (nor take it out
/// of its own), so every spelling of the item's link gets one verdict.
fn lots_of(item: &Item, history: &History<Arc<StoredEntry>>) -> Vec<String> {
    let mut lots: Vec<String> = history
        .events
        .iter()
        .filter(|event| {
            event.authority == Authority::Authorised && event.why.contains(&Why::Direct)
        })
        .filter_map(|event| ledger::history::ilmd_lot(&event.event.event))
        .map(str::to_owned)
        .collect();
    if lots.is_empty() {
        lots.extend(
            DigitalLink::parse_any(&item.asked)
                .ok()
                .and_then(|link| link.qualifier("10").map(str::to_owned)),
        );
    }
    lots.sort();
    lots.dedup();
    lots.truncate(MAX_LOTS);
    lots
}

/// The kept scans of the item at `link` (the newest), as the verdict weighs them.
async fn kept_scans(state: &AppState, link: &str) -> Result<Vec<verdict::ConsumerScan>, Problem> {
    let client = state
        .registry
        .get()
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    let kept = registry::scans::recent_scans(&**client, link)
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    Ok(kept
        .into_iter()
        .map(|scan| verdict::ConsumerScan {
            id: Some(scan.id),
            time: i128::from(scan.at) * 1_000_000_000,
            how: scan.kind,
            place: scan.cell.map(registry::scans::Cell::centre),
        })
        .collect())
}

/// One step of the journey as the scan shows it: when, what, where, who said so, whether they
/// had authority for it, whether it is an error declaration (a correction), and the declaration
/// that withdrew it, if one did.
fn step(event: &HistoryEvent<Arc<StoredEntry>>, withdrawn_by: Option<LeafIndex>) -> Value {
    let fields = &event.event.event;
    let id_of = |member: &str| {
        fields
            .get(member)
            .and_then(|place| place.get("id"))
            .cloned()
    };
    json!({
        "leafIndex": event.event.leaf.get(),
        "eventHash": event.event.payload.record.event_hash().to_ni_uri(),
        "eventTime": fields.get("eventTime"),
        "type": fields.get("type"),
        "action": fields.get("action"),
        "bizStep": fields.get("bizStep"),
        "disposition": fields.get("disposition"),
        "readPoint": id_of("readPoint"),
        "bizLocation": id_of("bizLocation"),
        "reportedBy": event.event.reporter,
        "authority": event.authority,
        "correction": fields.contains_key("errorDeclaration"),
        "withdrawnBy": withdrawn_by.map(LeafIndex::get),
    })
}

/// An identifier as one path segment: every byte but the unreserved ones and `:` percent-encoded.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
