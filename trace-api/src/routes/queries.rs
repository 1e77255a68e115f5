//! Named queries of the EPCIS 2.0 REST binding: `POST /queries` with `{"name": "...", "query":
//! {<EPCISEventsQuery>}}` keeps a query under a name (`201`, `Location: /queries/{name}`),
//! `GET /queries` lists the caller's, `GET /queries/{name}` gives one, `DELETE /queries/{name}`
//! forgets it, and `GET /queries/{name}/events[?perPage=&nextPageToken=]` answers it as
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
        "GET, HEAD, POST",
    )
}

/// `/queries/{name}`: `GET` gives it, `DELETE` forgets it.
pub(super) fn item(path: &str) -> Resource {
    super::read_write(
        path,
        definition,
        actix_web::http::Method::DELETE,
        delete,
        "GET, HEAD, DELETE",
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
    let access = super::query::authenticate(&request, &state, Some(Permission::Query)).await?;
    let client = client(&state).await?;
    let rows = client
        .query(
            "SELECT name, parameters::text FROM named_queries WHERE token_id = $1 ORDER BY name",
            &[&access.token.as_str()],
        )
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    let queries = rows
        .iter()
        .map(|row| Ok(described(row.get(0), &pairs_of(row.get(1))?)))
        .collect::<Result<Vec<Value>, Problem>>()?;
    Ok(json_answer(HttpResponse::Ok(), &Value::Array(queries)))
}

async fn definition(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access = super::query::authenticate(&request, &state, Some(Permission::Query)).await?;
    let name = path.into_inner();
    let pairs = stored(&state, &access, &name).await?;
    Ok(json_answer(HttpResponse::Ok(), &described(name, &pairs)))
}

async fn delete(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access = super::query::authenticate(&request, &state, Some(Permission::Query)).await?;
    let name = path.into_inner();
    let client = client(&state).await?;
    let deleted = client
        .execute(
            "DELETE FROM named_queries WHERE token_id = $1 AND name = $2",
            &[&access.token.as_str(), &name],
        )
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
    let access = super::query::authenticate(&request, &state, Some(Permission::Query)).await?;
    super::query::access_log(&state)?;
    // Read only for a valid credential, and no further than a request may be long.
    let body = super::query::read_body(&request, body, MAX_QUERY_REQUEST).await?;
    let (name, pairs) = read_definition(&body)?;
    let client = client(&state).await?;
    let parameters = Value::Array(
        pairs
            .iter()
            .map(|(name, value)| json!([name, value]))
            .collect(),
    )
    .to_string();
    // One statement: the row is added only while the token keeps fewer than the most.
    let added = client
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

/// A connection of the primary's pool named queries and subscriptions are kept in (the access
/// log's): without an access log, nothing across items is answered.
pub(super) async fn client(state: &AppState) -> Result<deadpool_postgres::Object, Problem> {
    super::query::access_log(state)?
        .pool()
        .get()
        .await
        .map_err(|error| Problem::unavailable(&error))
}
