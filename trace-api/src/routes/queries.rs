//! Named queries of the EPCIS 2.0 REST binding: `POST /queries` with `{"name": "...", "query":
//! {<EPCISEventsQuery>}}` keeps a query under a name (`201`, `Location: /queries/{name}`),
//! `GET /queries[?perPage=&nextPageToken=]` lists the caller's a page at a time ([`ListPage`]),
//! `GET /queries/{name}` gives one, `DELETE /queries/{name}` forgets it, and `GET /queries/{name}/events[?perPage=&nextPageToken=]` answers it as
//! `GET /events` would, paged the same way and recorded in the access log as any query is.
//!
//! A named query is its access token's own (another token's of the same name is another query,
//! and invisible): it runs with that token's scope, a partner's with its sites. Its parameters
//! are checked when it is made (`400` for one `GET /events` would refuse), a token keeps at most
//! [`MAX_NAMED_QUERIES`], and they are kept on the primary by the access log's role (`V29`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use serde_json::{Map, Value, json};

use epcis::query::EventQuery;
use registry::{Access, Permission};

use crate::problem::{EpcisException, Problem};
use crate::startup::AppState;

/// The most named queries one token keeps.
pub const MAX_NAMED_QUERIES: i64 = 100;
/// The most bytes of a request to make one.
pub const MAX_QUERY_REQUEST: usize = 16 * 1024;
/// The parameters a named query's events take: the rest is the query's.
pub(super) const PAGING: [&str; 2] = ["perPage", "nextPageToken"];
/// The longest name.
const MAX_NAME: usize = 64;

/// `/queries`: `GET` lists, `POST` makes one.
pub(super) fn collection(path: &str) -> Resource {
    super::read_write(
        path,
        list,
        actix_web::http::Method::POST,
        create,
        "GET, HEAD, POST, OPTIONS",
    )
}

/// `/queries/{name}`: `GET` gives it, `DELETE` forgets it.
pub(super) fn item(path: &str) -> Resource {
    super::read_write(
        path,
        definition,
        actix_web::http::Method::DELETE,
        delete,
        "GET, HEAD, DELETE, OPTIONS",
    )
}

/// `GET /queries/{name}/events`: the named query's events, or with `stream=true` and `Upgrade:
/// websocket` a WebSocket subscription to its new ones (`super::streams`).
pub(super) async fn events(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    if super::streams::asks_to_stream(&request) {
        return super::streams::subscribe(request, path.into_inner(), payload, state).await;
    }
    super::query::answer(
        &request,
        &state,
        super::query::Set::ByNamedQuery(path.into_inner()),
    )
    .await
}

/// The parameters of `access`'s named query `name` (`404 NoSuchNameException` when it has none).
pub(super) async fn stored(
    state: &AppState,
    access: &Access,
    name: &str,
) -> Result<Vec<(String, String)>, Problem> {
    let no_such = || {
        Problem::Epcis(
            EpcisException::NoSuchName,
            format!("this credential has no named query {name:?}"),
        )
    };
    if check_name(name).is_err() {
        return Err(no_such());
    }
    let client = client(state).await?;
    let row = client
        .query_opt(
            "SELECT parameters::text FROM named_queries WHERE token_id = $1 AND name = $2",
            &[&access.token.as_str(), &name],
        )
        .await
        .map_err(|error| Problem::unavailable(&error))?
        .ok_or_else(no_such)?;
    pairs_of(row.get(0))
}

async fn list(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let access = super::query::authenticate_binding(&request, &state, Permission::Query).await?;
    let page = ListPage::of(&request)?;
    let client = client(&state).await?;
    let rows = client
        .query(
            "SELECT name, parameters::text FROM named_queries \
             WHERE token_id = $1 AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3",
            &[&access.token.as_str(), &page.after, &page.read()],
        )
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    let (rows, more) = page.split(&rows);
    let queries = rows
        .iter()
        .map(|row| Ok(described(row.get(0), &pairs_of(row.get(1))?)))
        .collect::<Result<Vec<Value>, Problem>>()?;
    let next = more.then(|| rows.last().map(|row| row.get::<_, String>(0)));
    let mut answer = HttpResponse::Ok();
    if let Some(link) = page.next_link(&request, next.flatten().as_deref()) {
        answer.insert_header((header::LINK, link));
    }
    Ok(json_answer(answer, &Value::Array(queries)))
}

/// The most entries one page of a credential's own list (`GET /queries`, a named query's
/// subscriptions) holds, and how many it holds when `perPage` is not given: every named query
/// a credential may keep fits one.
pub const MAX_LIST_PAGE: i64 = 1000;

/// A page of a credential's own list, as the request asks for it: `perPage` (1 to
/// [`MAX_LIST_PAGE`]) and `nextPageToken` (where the page before ended, as its `Link: rel="next"`
/// gave it: the key of its last entry, base64url). The lists are the caller's own rows, so a
/// token needs no signature: one that does not decode is refused, and one that was changed
/// pages the caller's own list from elsewhere. Any other parameter, or one given twice, is
/// refused (`400 QueryParameterException`).
pub(super) struct ListPage {
    given: Vec<(String, String)>,
    size: i64,
    /// The key of the last entry of the page before.
    pub(super) after: Option<String>,
}

impl ListPage {
    pub(super) fn of(request: &HttpRequest) -> Result<Self, Problem> {
        use base64::Engine as _;
        let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
        let given = super::query::parameters(request)?;
        let (mut size, mut after) = (None, None);
        for (name, value) in &given {
            match name.as_str() {
                "perPage" if size.is_none() => {
                    let per_page = value
                        .parse::<i64>()
                        .ok()
                        .filter(|count| (1..=MAX_LIST_PAGE).contains(count))
                        .ok_or_else(|| {
                            bad(format!(
                                "perPage {:?} is not a whole number from 1 to {MAX_LIST_PAGE}",
                                value.chars().take(32).collect::<String>()
                            ))
                        })?;
                    size = Some(per_page);
                }
                "nextPageToken" if after.is_none() => {
                    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(value)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .filter(|key| !key.is_empty() && key.len() <= 256)
                        .ok_or_else(|| {
                            bad(
                                "nextPageToken is not one this list gave: ask for its first \
                                 page again"
                                    .to_owned(),
                            )
                        })?;
                    after = Some(key);
                }
                "perPage" | "nextPageToken" => {
                    return Err(bad(format!("{name} is given twice")));
                }
                other => {
                    return Err(bad(format!(
                        "{} is not a parameter of this list: it takes perPage and nextPageToken",
                        other.chars().take(64).collect::<String>()
                    )));
                }
            }
        }
        Ok(Self {
            given,
            size: size.unwrap_or(MAX_LIST_PAGE),
            after,
        })
    }

    /// How many rows to read: one more than the page holds, to know whether another follows.
    pub(super) fn read(&self) -> i64 {
        self.size + 1
    }

    /// The page's rows of those read, and whether more follow.
    pub(super) fn split<'a, T>(&self, rows: &'a [T]) -> (&'a [T], bool) {
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        match rows.len() > size {
            true => (&rows[..size], true),
            false => (rows, false),
        }
    }

    /// `Link: <...>; rel="next"` to the page after the one whose last entry's key is `last`.
    pub(super) fn next_link(
        &self,
        request: &HttpRequest,
        last: Option<&str>,
    ) -> Option<header::HeaderValue> {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last?);
        let link = super::query::next_link(request, &self.given, &token);
        header::HeaderValue::from_str(&format!("<{link}>; rel=\"next\"")).ok()
    }
}

async fn definition(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access = super::query::authenticate_binding(&request, &state, Permission::Query).await?;
    let name = path.into_inner();
    let pairs = stored(&state, &access, &name).await?;
    Ok(json_answer(HttpResponse::Ok(), &described(name, &pairs)))
}

async fn delete(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access = super::query::authenticate_binding(&request, &state, Permission::Query).await?;
    let name = path.into_inner();
    let mut client = client(&state).await?;
    // Its subscriptions go with it, one being delivered too (its outcome is then not recorded).
    let transaction = holding_credential(&mut client, access.token.as_str()).await?;
    let deleted = transaction
        .execute(
            "DELETE FROM named_queries WHERE token_id = $1 AND name = $2",
            &[&access.token.as_str(), &name],
        )
        .await
        .map_err(|error| contended(&error))?;
    transaction
        .commit()
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    if deleted == 0 {
        return Err(Problem::Epcis(
            EpcisException::NoSuchName,
            format!("this credential has no named query {name:?}"),
        ));
    }
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

async fn create(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access = super::query::authenticate_binding(&request, &state, Permission::Query).await?;
    super::query::access_log(&state)?;
    // Read only for a valid credential, and no further than a request may be long.
    let body = super::query::read_body(&request, body, MAX_QUERY_REQUEST).await?;
    let (name, pairs) = read_definition(&body)?;
    let mut client = client(&state).await?;
    let parameters = Value::Array(
        pairs
            .iter()
            .map(|(name, value)| json!([name, value]))
            .collect(),
    )
    .to_string();
    // The row is added only while the token keeps fewer than the most, counted under its lock.
    let transaction = holding_credential(&mut client, access.token.as_str()).await?;
    let added = transaction
        .execute(
            "INSERT INTO named_queries (token_id, name, parameters) \
             SELECT $1, $2, CAST($3 AS text)::jsonb \
             WHERE (SELECT count(*) FROM named_queries WHERE token_id = $1) < $4 \
             ON CONFLICT (token_id, name) DO NOTHING",
            &[
                &access.token.as_str(),
                &name,
                &parameters,
                &MAX_NAMED_QUERIES,
            ],
        )
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    transaction
        .commit()
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    if added == 0 {
        let exists = client
            .query_opt(
                "SELECT 1 FROM named_queries WHERE token_id = $1 AND name = $2",
                &[&access.token.as_str(), &name],
            )
            .await
            .map_err(|error| Problem::unavailable(&error))?
            .is_some();
        return Err(match exists {
            true => Problem::Epcis(
                EpcisException::ResourceAlreadyExists,
                format!("a named query {name:?} exists: delete it first, or choose another name"),
            ),
            false => Problem::TooMuch(format!(
                "this credential keeps {MAX_NAMED_QUERIES} named queries, the most: delete one"
            )),
        });
    }
    let mut answer = HttpResponse::Created();
    answer.insert_header((header::LOCATION, format!("/queries/{name}")));
    Ok(json_answer(answer, &described(name, &pairs)))
}

/// The name and the parameters of a `POST /queries` body, checked: the name is one a path
/// segment holds as it is, and the query is one `GET /events` would answer.
fn read_definition(body: &[u8]) -> Result<(String, Vec<(String, String)>), Problem> {
    let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
    let request: Value = serde_json::from_slice(body)
        .map_err(|error| bad(format!("the request body is not JSON: {error}")))?;
    let object = request.as_object().ok_or_else(|| {
        bad(
            "the request body is not a JSON object: send {\"name\": \"...\", \"query\": {...}}"
                .into(),
        )
    })?;
    if let Some(other) = object
        .keys()
        .find(|key| !matches!(key.as_str(), "name" | "query"))
    {
        return Err(bad(format!(
            "the request body has member {other:?}; it has \"name\" and \"query\" only"
        )));
    }
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the request body has no \"name\" string".to_owned()))?;
    check_name(name).map_err(bad)?;
    let query = object
        .get("query")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("the request body has no \"query\" object of parameters".to_owned()))?;
    if let Some(paging) = query.keys().find(|key| PAGING.contains(&key.as_str())) {
        return Err(bad(format!(
            "{paging} is not part of a named query: give it when asking for its events"
        )));
    }
    let pairs = super::query::query_pairs(query)?;
    EventQuery::parse(
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
    .map_err(|error| bad(error.to_string()))?;
    Ok((name.to_owned(), pairs))
}

/// A name: 1 to 64 letters, digits, `.`, `_`, `~` or `-` (a path segment as it is).
fn check_name(name: &str) -> Result<(), String> {
    let fits = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'~' | b'-'));
    match fits {
        true => Ok(()),
        false => Err(format!(
            "{name:?} is not a query name: 1 to {MAX_NAME} letters, digits, '.', '_', '~' or '-'"
        )),
    }
}

/// The stored parameters (the JSON text of `[[name, value], ...]`).
fn pairs_of(stored: &str) -> Result<Vec<(String, String)>, Problem> {
    let stored: Value = serde_json::from_str(stored).map_err(|error| {
        Problem::Internal(format!("a named query's stored parameters: {error}"))
    })?;
    stored
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(name), Value::String(value)]) => Ok((name.clone(), value.clone())),
            _ => Err(Problem::Internal(format!(
                "a named query's stored parameter is not a [name, value] pair: {pair}"
            ))),
        })
        .collect()
}

/// A named query as the binding shows it: `{"name": ..., "query": {...}}`.
fn described(name: String, pairs: &[(String, String)]) -> Value {
    let query: Map<String, Value> = pairs
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    json!({"name": name, "query": query})
}

fn json_answer(mut answer: actix_web::HttpResponseBuilder, body: &Value) -> HttpResponse {
    answer
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("GS1-EPCIS-Version", "2.0.0"))
        .insert_header(("GS1-CBV-Version", "2.0.0"))
        .content_type("application/json")
        .body(body.to_string())
}

/// The first half of the advisory lock a credential's additions of named queries and
/// subscriptions hold (the second: its token id, hashed).
const CREDENTIAL_LOCK: i32 = 0x7474_0009;

/// A transaction holding `token`'s lock, for a change to what the credential keeps: additions
/// made at once are counted one after another (a statement alone would not see the others', and
/// a hundred requests sent at once would all pass the most). Its locks are waited for a second
/// at most (`503 contended` then, [`contended`]): a request waiting on another must not hold a
/// connection of the access log's pool, which records every answer, for longer. (Deliveries hold
/// no lock while their receivers answer: they hold leases, `sql/V39`.)
pub(super) async fn holding_credential<'a>(
    client: &'a mut deadpool_postgres::Object,
    token: &str,
) -> Result<deadpool_postgres::Transaction<'a>, Problem> {
    let transaction = client
        .transaction()
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    transaction
        .batch_execute("SET LOCAL lock_timeout = '1s'")
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&CREDENTIAL_LOCK, &token],
        )
        .await
        .map_err(|error| contended(&error))?;
    Ok(transaction)
}

/// A failed statement of a [`holding_credential`] transaction as answered: a lock not had
/// within the second is `503 contended`, anything else the database's `503`.
pub(super) fn contended(error: &tokio_postgres::Error) -> Problem {
    if error.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
        Problem::Contended
    } else {
        Problem::unavailable(error)
    }
}

/// A connection of the primary's pool named queries and subscriptions are kept in (the access
/// log's): without an access log, nothing across items is answered.
pub(super) async fn client(state: &AppState) -> Result<deadpool_postgres::Object, Problem> {
    super::query::access_log(state)?
        .pool()
        .get()
        .await
        .map_err(|error| Problem::unavailable(&error))
}
