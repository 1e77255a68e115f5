//! Named queries (`POST /queries`, `GET /queries/{name}/events`): each token's own, answered as
//! `GET /events` would with the token's scope, paged, recorded in the access log; each kind of bad
//! request gets the binding's exception and keeps nothing.

use serde_json::{Value, json};

use crate::common::{Pipeline, SITE, header};
use crate::query::{hashes, journey, token};

/// `METHOD path` with a bearer token and a JSON body (none for `GET` and `DELETE`): status,
/// headers and the JSON body.
async fn call(
    pipeline: &Pipeline,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Vec<(String, String)>, Value) {
    let bearer = format!("Bearer {token}");
    let (status, headers, bytes) = match body {
        Some(body) => {
            pipeline
                .post(
                    path,
                    &[("Authorization", bearer.as_str())],
                    &serde_json::to_vec(&body).unwrap(),
                )
                .await
        }
        None => {
            let url = format!("{}{path}", pipeline.trace);
            let method = method.to_owned();
            tokio::task::spawn_blocking(move || {
                crate::common::request(&method, &url, &[("Authorization".to_owned(), bearer)])
            })
            .await
            .unwrap()
        }
    };
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_query_is_its_token_s_own_and_answers_as_its_events_query_would() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline.capture(journey()).await;
    crate::custody::register_b(&pipeline).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let other = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let partner = token(&pipeline, registry::Role::Partner, &[SITE], None).await;
    let rival = token(&pipeline, registry::Role::Partner, &["rival-depot"], None).await;

    let definition = json!({
        "name": "moves",
        "query": {"EQ_bizStep": ["shipping", "receiving"], "eventType": "ObjectEvent"},
    });
    let (status, headers, made) = call(
        &pipeline,
        "POST",
        "/queries",
        &regulator,
        Some(definition.clone()),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(header(&headers, "location"), Some("/queries/moves"));
    let expected_query = json!({"EQ_bizStep": "shipping|receiving", "eventType": "ObjectEvent"});
    assert_eq!(made, json!({"name": "moves", "query": expected_query}));

    // Its events are those of the same GET /events, as of the same checkpoint; each answer is
    // recorded in the access log.
    let (status, _, direct) = call(
        &pipeline,
        "GET",
        "/events?EQ_bizStep=shipping%7Creceiving&eventType=ObjectEvent",
        &regulator,
        None,
    )
    .await;
    assert_eq!(status, 200, "{direct}");
    let (status, headers, named) =
        call(&pipeline, "GET", "/queries/moves/events", &regulator, None).await;
    assert_eq!(status, 200, "{named}");
    assert!(header(&headers, "tagtrail-access-entry").is_some());
    assert_eq!(hashes(&named), hashes(&direct));
    assert_eq!(
        hashes(&named).len(),
        3,
        "shipping, receiving and its declaration"
    );
    // Paged one by one through its Link header.
    let mut paged = Vec::new();
    let mut next = Some("/queries/moves/events?perPage=1".to_owned());
    while let Some(path) = next {
        let (status, headers, page) = call(&pipeline, "GET", &path, &regulator, None).await;
        assert_eq!(status, 200, "{page}");
        paged.extend(hashes(&page));
        next = header(&headers, "link").map(|link| {
            let url = link.strip_prefix('<').unwrap().split_once('>').unwrap().0;
            assert!(url.starts_with("/queries/moves/events?"), "{url}");
            url.to_owned()
        });
    }
    assert_eq!(paged, hashes(&direct));

    // Listed and read back by its token; invisible to another.
    let (status, _, listed) = call(&pipeline, "GET", "/queries", &regulator, None).await;
    assert_eq!((status, listed), (200, json!([made.clone()])));
    let (status, _, read) = call(&pipeline, "GET", "/queries/moves", &regulator, None).await;
    assert_eq!((status, read), (200, made.clone()));
    let (_, _, none) = call(&pipeline, "GET", "/queries", &other, None).await;
    assert_eq!(none, json!([]));
    for path in ["/queries/moves", "/queries/moves/events"] {
        let (status, _, answer) = call(&pipeline, "GET", path, &other, None).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert_eq!(answer["type"], "epcisException:NoSuchNameException");
    }

    // A partner's query of the same name is its own, answered with its scope.
    let (status, _, _) = call(
        &pipeline,
        "POST",
        "/queries",
        &partner,
        Some(definition.clone()),
    )
    .await;
    assert_eq!(status, 201);
    let (_, _, theirs) = call(&pipeline, "GET", "/queries/moves/events", &partner, None).await;
    assert_eq!(
        hashes(&theirs),
        hashes(&direct),
        "the pipeline's site is the partner's"
    );
    let (status, _, _) = call(
        &pipeline,
        "POST",
        "/queries",
        &rival,
        Some(definition.clone()),
    )
    .await;
    assert_eq!(status, 201);
    let (_, _, rivals) = call(&pipeline, "GET", "/queries/moves/events", &rival, None).await;
    assert!(
        hashes(&rivals).is_empty(),
        "another site's partner sees none of them"
    );

    // Each kind of bad request: the binding's exception, nothing kept.
    let bad_definitions = [
        (
            json!({"name": "moves", "query": {}}),
            409,
            "ResourceAlreadyExistsException",
        ),
        (json!({"name": "a/b", "query": {}}), 400, "not a query name"),
        (json!({"name": "", "query": {}}), 400, "not a query name"),
        (
            json!({"name": "x".repeat(65), "query": {}}),
            400,
            "not a query name",
        ),
        (
            json!({"name": "q", "query": {"EQ_nonsense": "1"}}),
            400,
            "QueryParameterException",
        ),
        (
            json!({"name": "q", "query": {"perPage": "5"}}),
            400,
            "give it when asking",
        ),
        (
            json!({"name": "q", "query": {"eventType": {"a": 1}}}),
            400,
            "not a string",
        ),
        (json!({"name": "q"}), 400, "no \"query\" object"),
        (
            json!({"name": "q", "query": {}, "x": 1}),
            400,
            "has member \"x\"",
        ),
        (json!([1]), 400, "not a JSON object"),
        (
            json!({"name": "q", "query": {"EQ_bizStep": "x".repeat(20_000)}}),
            400,
            "longer than 16384 bytes",
        ),
    ];
    for (body, status, says) in bad_definitions {
        let (got, _, answer) = call(
            &pipeline,
            "POST",
            "/queries",
            &regulator,
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body}: {answer}");
        let said = format!("{} {}", answer["type"], answer["detail"].as_str().unwrap());
        assert!(said.contains(says), "{body}: {answer}");
    }
    let (_, _, listed) = call(&pipeline, "GET", "/queries", &regulator, None).await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "nothing kept: {listed}"
    );
    let (status, _, answer) = call(
        &pipeline,
        "GET",
        "/queries/moves/events?EQ_bizStep=shipping",
        &regulator,
        None,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("not a paging parameter")
    );
    let (status, _, _) = call(&pipeline, "GET", "/queries", "not-a-token", None).await;
    assert_eq!(status, 401);
    let (status, headers, _) = call(&pipeline, "PUT", "/queries", &regulator, None).await;
    assert_eq!(
        (status, header(&headers, "allow")),
        (405, Some("GET, HEAD, POST, OPTIONS"))
    );

    // A token keeps at most 100.
    for n in 1..100 {
        let body = json!({"name": format!("q{n}"), "query": {"eventType": "ObjectEvent"}});
        let (status, _, answer) = call(&pipeline, "POST", "/queries", &regulator, Some(body)).await;
        assert_eq!(status, 201, "{n}: {answer}");
    }
    let body = json!({"name": "one-too-many", "query": {}});
    let (status, _, answer) = call(&pipeline, "POST", "/queries", &regulator, Some(body)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("delete one"));

    // Listed a page at a time (perPage, nextPageToken, Link: rel="next"), each once, by name.
    let (mut names, mut pages) = (Vec::new(), 0);
    let mut next = Some("/queries?perPage=30".to_owned());
    while let Some(path) = next {
        let (status, headers, page) = call(&pipeline, "GET", &path, &regulator, None).await;
        assert_eq!(status, 200, "{path}: {page}");
        pages += 1;
        names.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|query| query["name"].as_str().unwrap().to_owned()),
        );
        next = header(&headers, "link").map(|link| {
            let url = link.strip_prefix('<').unwrap().split_once('>').unwrap().0;
            assert!(link.ends_with("; rel=\"next\""), "{link}");
            url.to_owned()
        });
    }
    let mut all: Vec<String> = (1..100).map(|n| format!("q{n}")).collect();
    all.push("moves".to_owned());
    all.sort();
    assert_eq!((pages, names), (4, all));
    let (_, headers, whole) = call(&pipeline, "GET", "/queries", &regulator, None).await;
    assert_eq!(whole.as_array().unwrap().len(), 100);
    assert_eq!(header(&headers, "link"), None, "one page holds them all");
    for (path, says) in [
        (
            "/queries?perPage=0",
            "perPage \"0\" is not a whole number from 1 to 1000",
        ),
        ("/queries?perPage=x", "perPage \"x\" is not a whole number"),
        ("/queries?perPage=2&perPage=3", "perPage is given twice"),
        (
            "/queries?nextPageToken=%21%21",
            "nextPageToken is not one this list gave",
        ),
        ("/queries?limit=2", "limit is not a parameter of this list"),
        (
            "/queries/moves/subscriptions?nextPageToken=eA",
            "nextPageToken is not one this list gave",
        ),
    ] {
        let (status, _, answer) = call(&pipeline, "GET", path, &regulator, None).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["type"], "epcisException:QueryParameterException");
        assert!(
            answer["detail"].as_str().unwrap().contains(says),
            "{path}: {answer}"
        );
    }
    // The binding's version headers, as a query's: malformed 400, a range without 2.0 406.
    for (name, value, status) in [
        ("GS1-EPCIS-Min", ")Uv2~", 400),
        ("GS1-EPCIS-Min", "3.0.0", 406),
    ] {
        let url = format!("{}/queries", pipeline.trace);
        let headers = vec![
            ("Authorization".to_owned(), format!("Bearer {regulator}")),
            (name.to_owned(), value.to_owned()),
        ];
        let (got, _, _) =
            tokio::task::spawn_blocking(move || crate::common::request("GET", &url, &headers))
                .await
                .unwrap();
        assert_eq!(got, status, "{name}: {value}");
    }

    // Deleted: gone, and its name free again.
    let (status, _, _) = call(&pipeline, "DELETE", "/queries/moves", &regulator, None).await;
    assert_eq!(status, 204);
    for (method, path) in [
        ("DELETE", "/queries/moves"),
        ("GET", "/queries/moves/events"),
    ] {
        let (status, _, answer) = call(&pipeline, method, path, &regulator, None).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    let (status, _, _) = call(&pipeline, "GET", "/queries/moves/events", &partner, None).await;
    assert_eq!(status, 200, "the partner's own query of that name stays");
    pipeline.stop().await;
}

/// A named query's answers are recorded in the access log with what the query asked (the
/// SHA-256 of its stored parameters), so that a query deleted and made again under its name
/// with other parameters is told apart from the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_query_s_answers_are_recorded_with_what_it_asked() {
    use sha2::Digest as _;
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline.capture(journey()).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let mut recorded = Vec::new();
    for step in ["shipping", "receiving"] {
        let definition = json!({"name": "q", "query": {"EQ_bizStep": step}});
        let (status, _, made) =
            call(&pipeline, "POST", "/queries", &regulator, Some(definition)).await;
        assert_eq!(status, 201, "{made}");
        let (status, headers, answer) =
            call(&pipeline, "GET", "/queries/q/events", &regulator, None).await;
        assert_eq!(status, 200, "{answer}");
        let entry: i64 = header(&headers, "tagtrail-access-entry")
            .unwrap()
            .parse()
            .unwrap();
        let (status, _, _) = call(&pipeline, "DELETE", "/queries/q", &regulator, None).await;
        assert_eq!(status, 204);
        let asked = serde_json::to_vec(&json!([["EQ_bizStep", step]])).unwrap();
        let digest: String = sha2::Sha256::digest(&asked)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        recorded.push((entry, digest));
    }
    let admin = pipeline.db.connect().await.unwrap();
    for (entry, expected) in &recorded {
        let text: String = admin
            .query_one(
                "SELECT entry FROM access_log WHERE leaf_index = $1",
                &[entry],
            )
            .await
            .unwrap()
            .get(0);
        let logged: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(logged["bodySha256"], json!(expected), "{logged}");
        assert!(
            logged["target"]
                .as_str()
                .unwrap()
                .starts_with("/queries/q/events")
        );
    }
    assert_ne!(recorded[0].1, recorded[1].1);
    pipeline.stop().await;
}
