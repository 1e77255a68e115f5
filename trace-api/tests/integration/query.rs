//! The EPCIS 2.0 query interface (`GET /events` and its resources) on a journey captured through
//! ingest: each kind of parameter, the credentials and their scope, paging as of one checkpoint,
//! ordering and limits, and each kind of bad request with the binding's exception.

use serde_json::{Value, json};

use crate::common::{LOCATION, Pipeline, SITE, aggregation, at, header, object, segment};
use crate::custody::{B_LOCATION, capture_as_b, register_b};

pub(crate) const ITEM_1: &str = "urn:epc:id:sgtin:0614141.812345.1";
/// `ITEM_1` as a GS1 Digital Link.
const ITEM_1_LINK: &str = "https://id.gs1.org/01/80614141123458/21/1";
const ITEM_2: &str = "urn:epc:id:sgtin:0614141.812345.2";
const ITEM_3: &str = "urn:epc:id:sgtin:0614141.812346.3";
pub(crate) const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
const LOT: &str = "urn:epc:class:lgtin:0614141.812345.L1";
const SHIPPING_ID: &str = "urn:uuid:6f1f7c5e-2a43-4a40-9a8e-111111111111";
const LEDGER_MEMBER: &str = "https://tagtrail.dev/ns/ledger#entry";

/// The journey: commissioning with a lot quantity, packing into a case, shipping the case (with
/// an eventID), a transformation of item 2 into item 3, receiving item 1 (written as a Digital
/// Link) and an error declaration of that receiving.
pub(crate) fn journey() -> Vec<Value> {
    let mut commissioning = object(0, "ADD", &[ITEM_1, ITEM_2], "commissioning");
    commissioning["quantityList"] = json!([{"epcClass": LOT, "quantity": 12, "uom": "KGM"}]);
    commissioning["bizTransactionList"] =
        json!([{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:PO-7"}]);
    let mut shipping = object(2, "OBSERVE", &[CASE], "shipping");
    shipping["eventID"] = json!(SHIPPING_ID);
    shipping["disposition"] = json!("in_transit");
    shipping["bizLocation"] = json!({"id": LOCATION});
    let transformation = json!({
        "type": "TransformationEvent",
        "eventTime": at(3),
        "eventTimeZoneOffset": "+00:00",
        "inputEPCList": [ITEM_2],
        "outputEPCList": [ITEM_3],
        "bizStep": "commissioning",
        "readPoint": {"id": LOCATION},
    });
    let receiving = object(4, "OBSERVE", &[ITEM_1_LINK], "receiving");
    let mut declaration = receiving.clone();
    declaration["errorDeclaration"] = json!({
        "declarationTime": at(5),
        "reason": "incorrect_data",
    });
    vec![
        commissioning,
        aggregation(1, "ADD", CASE, &[ITEM_1, ITEM_2]),
        shipping,
        transformation,
        receiving,
        declaration,
    ]
}

/// A token of `role` (for `sites`) made with the owner's connection.
pub(crate) async fn token(
    pipeline: &Pipeline,
    role: registry::Role,
    sites: &[&str],
    expires: Option<u64>,
) -> String {
    let admin = pipeline.db.connect().await.unwrap();
    let sites: Vec<ledger::SiteId> = sites
        .iter()
        .map(|site| ledger::SiteId::parse(site).unwrap())
        .collect();
    registry::create_access_token(
        &admin,
        role,
        &sites,
        "test",
        expires.map(std::time::Duration::from_secs),
    )
    .await
    .unwrap()
    .expose()
}

/// `GET path` with a bearer token: status, headers and the JSON body.
pub(crate) async fn ask(
    pipeline: &Pipeline,
    path: &str,
    token: &str,
) -> (u16, Vec<(String, String)>, Value) {
    let bearer = format!("Bearer {token}");
    let (status, headers, body) = pipeline
        .get_with(path, &[("Authorization", bearer.as_str())])
        .await;
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, headers, body)
}

/// The event hashes of an answer's events, in order.
pub(crate) fn hashes(answer: &Value) -> Vec<String> {
    events(answer)
        .iter()
        .map(|event| {
            event[LEDGER_MEMBER]["eventHash"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn events(answer: &Value) -> Vec<Value> {
    answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .unwrap_or_else(|| panic!("not a query document: {answer}"))
        .clone()
}

/// The problem type of an answer.
fn exception(answer: &Value) -> &str {
    answer["type"].as_str().unwrap_or("")
}

/// The path and query of an answer's `Link: <...>; rel="next"`, if any.
fn next_link(headers: &[(String, String)]) -> Option<String> {
    let link = header(headers, "link")?;
    let url = link.strip_prefix('<')?.split_once(">; rel=\"next\"")?.0;
    Some(url.to_owned())
}

/// The hashes of `query`'s events, read one a page through the next links.
async fn one_a_page(pipeline: &Pipeline, query: &str, token: &str) -> Vec<String> {
    let mut paged = Vec::new();
    let mut next = Some(format!("{query}&perPage=1"));
    while let Some(path) = next {
        let (status, headers, page) = ask(pipeline, &path, token).await;
        assert_eq!(status, 200, "{page}");
        paged.extend(hashes(&page));
        next = next_link(&headers);
    }
    paged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lot_s_events_are_found_through_the_index_and_past_it_page_by_page() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline.warm_index().await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    // The lot in both spellings, another lot, and the lot's GTIN without it.
    let quantity = |minute: u32, class: &str| {
        let mut event = object(minute, "OBSERVE", &[], "inspecting");
        event["quantityList"] = json!([{"epcClass": class, "quantity": 3}]);
        event
    };
    let captured = pipeline
        .capture(vec![
            quantity(0, LOT),
            quantity(1, "https://id.gs1.org/01/80614141123458/10/L1"),
            quantity(2, "urn:epc:class:lgtin:0614141.812345.L2"),
            quantity(3, "urn:epc:idpat:sgtin:0614141.812345.*"),
            quantity(4, LOT),
        ])
        .await;
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    pipeline.wait_for_index(size).await;
    let lot = format!("/events?MATCH_epcClass={LOT}");
    let (status, _, answer) = ask(&pipeline, &lot, &regulator).await;
    assert_eq!(status, 200, "{answer}");
    let found = vec![
        captured[0].clone(),
        captured[1].clone(),
        captured[4].clone(),
    ];
    assert_eq!(hashes(&answer), found);
    // One a page, through the listed entries.
    assert_eq!(one_a_page(&pipeline, &lot, &regulator).await, found);
    // Among as many classes as a parameter lists, the same events: every class parameter is
    // answered through the index (one listing query a class); one more is refused by the parser.
    let classes = |count: usize| {
        let others = (1..count).map(|n| format!("urn:epc:class:lgtin:0614141.812345.X{n}|"));
        format!("/events?MATCH_epcClass={}{LOT}", others.collect::<String>())
    };
    let crowd = classes(epcis::query::MAX_VALUES);
    let (status, _, answer) = ask(&pipeline, &crowd, &regulator).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hashes(&answer), found);
    assert_eq!(one_a_page(&pipeline, &crowd, &regulator).await, found);
    let (status, _, answer) = ask(
        &pipeline,
        &classes(epcis::query::MAX_VALUES + 1),
        &regulator,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("more than 256 values"),
        "{answer}"
    );
    // Captured after the index's last step: found too, as the index catches up or not.
    let later = pipeline.capture(vec![quantity(5, LOT)]).await;
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    pipeline.wait_for_checkpoint(size).await;
    let (_, _, answer) = ask(&pipeline, &lot, &regulator).await;
    let mut found = found;
    found.extend(later);
    assert_eq!(hashes(&answer), found);
    pipeline.stop().await;
}

/// An item's commissioning stored other than its leaf record commits to, or as text that is not
/// JSON (changed behind the ledger's back, as the superuser, past the append-only trigger): a
/// query that finds it answers `500` (`internal`, the cause logged), not the item's other event
/// alone. Before, the entry was left out and the answer was `200` with one event fewer; a lost
/// row already gave `500`, so a tamperer would have garbled rather than deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_finding_an_entry_changed_in_the_store_is_refused_not_shorter() {
    for garbled in [false, true] {
        let pipeline = Pipeline::start(|_| {}).await;
        let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
        pipeline
            .capture(vec![
                object(0, "ADD", &[ITEM_1], "commissioning"),
                object(3, "OBSERVE", &[ITEM_1], "shipping"),
            ])
            .await;
        let size = pipeline.trace_api().checkpoint_size().await.unwrap();
        pipeline.wait_for_index(size).await;
        pipeline
            .tamper_with_commissioning(|leaf| {
                ledger_store::testing::change_event_sql(leaf, |event| match garbled {
                    true => "'not json'".to_owned(),
                    false => format!("replace({event}, '\"ObjectEvent\"', '\"ObjectEvent\" ')"),
                })
            })
            .await;
        let path = format!("/events?MATCH_epc={ITEM_1}");
        let (status, _, answer) = ask(&pipeline, &path, &regulator).await;
        assert_eq!(status, 500, "garbled: {garbled}: {answer}");
        assert_eq!(
            answer["type"], "https://tagtrail.dev/problems/internal",
            "garbled: {garbled}: {answer}"
        );
        pipeline.stop().await;
    }
}

/// An EPC named by more events than one answer's byte budget pays for (24 bytes a candidate)
/// is refused after a bounded read, `413 QueryTooComplexException`, on every route that looks it
/// up; another EPC is answered, and no answer holds any of the shared budget afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epc_named_by_more_events_than_an_answer_reads_is_refused_unread() {
    let pipeline = Pipeline::start(|config| {
        config.limits.max_answer_bytes = 2048;
        config.limits.max_event_bytes = 2048;
        config.limits.answer_bytes_per_second = 1 << 30;
    })
    .await;
    pipeline.warm_index().await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    const FLOODED: &str = "urn:epc:id:sgtin:0614141.812345.1";
    const QUIET: &str = "urn:epc:id:sgtin:0614141.812345.2";
    let mut flood: Vec<Value> = (0..100)
        .map(|minute| object(minute, "OBSERVE", &[FLOODED], "inspecting"))
        .collect();
    flood.push(object(100, "OBSERVE", &[QUIET], "inspecting"));
    pipeline.capture(flood).await;
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    pipeline.wait_for_index(size).await;
    for path in [
        format!("/events?MATCH_epc={FLOODED}"),
        format!("/epcs/{}/events", segment(FLOODED)),
    ] {
        let (status, _, answer) = ask(&pipeline, &path, &regulator).await;
        assert_eq!(status, 413, "{path}: {answer}");
        assert_eq!(
            exception(&answer),
            "epcisException:QueryTooComplexException",
            "{answer}"
        );
    }
    // Each refusal tells the EPC is named by more events than an answer reads: on the access
    // log, as answers of none.
    let refused: Vec<(String, u64)> = pipeline
        .access_entries()
        .await
        .into_iter()
        .map(|entry| (entry.target, entry.answered))
        .collect();
    assert_eq!(
        refused,
        [
            (format!("/events?MATCH_epc={FLOODED}"), 0),
            (format!("/epcs/{}/events", segment(FLOODED)), 0)
        ]
    );
    let (status, _, answer) =
        ask(&pipeline, &format!("/events?MATCH_epc={QUIET}"), &regulator).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(events(&answer).len(), 1, "{answer}");
    let (_, metrics) = pipeline.get_text("/metrics").await;
    assert!(
        metrics.contains("trace_answer_bytes_in_flight 0"),
        "{metrics}"
    );
    pipeline.stop().await;
}

/// An event read at the site's location `minutes` from the start of yesterday (UTC), at business
/// location `place` if one is given: negative minutes are the day before, so that a window across
/// midnight is always in the past.
fn around_midnight(minutes: i64, place: Option<&str>) -> Value {
    const DAY: i64 = 86_400_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let midnight = (i64::try_from(now).unwrap() / DAY - 1) * DAY;
    let mut event = object(0, "OBSERVE", &[], "inspecting");
    event["eventTime"] = json!(
        ledger::UnixMillis::from_millis(u64::try_from(midnight + minutes * 60_000).unwrap())
            .to_rfc3339()
    );
    if let Some(place) = place {
        event["bizLocation"] = json!({"id": place});
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_over_a_window_is_found_through_the_index_page_by_page() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline.warm_index().await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    // Read at the place, some there too as their business location: before, in and after the
    // window, on both sides of midnight (two keys of the place, one a day), out of time order.
    let here = Some(LOCATION);
    let spec: &[(i64, Option<&str>)] = &[
        (-50, here),
        (-30, here),
        (-20, None),
        (10, here),
        (-10, here),
        (5, None),
        (45, here),
        (29, here),
        (30, here),
        (-40, here),
        (-41, here),
    ];
    let captured = pipeline
        .capture(
            spec.iter()
                .map(|(minutes, place)| around_midnight(*minutes, *place))
                .collect(),
        )
        .await;
    // Another site's place, in the window.
    let b_token = register_b(&pipeline).await;
    let mut theirs = around_midnight(0, None);
    theirs["readPoint"] = json!({"id": B_LOCATION});
    let (status, answer) = capture_as_b(&pipeline, &b_token, vec![theirs]).await;
    assert_eq!(status / 100, 2, "{answer}");
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    pipeline.wait_for_index(size).await;
    let window = |from: i64, to: i64| {
        let time = |event: Value| segment(event["eventTime"].as_str().unwrap());
        format!(
            "GE_eventTime={}&LT_eventTime={}",
            time(around_midnight(from, None)),
            time(around_midnight(to, None))
        )
    };
    let in_window = |only_here: bool| -> Vec<String> {
        spec.iter()
            .zip(&captured)
            .filter(|((minutes, at), _)| {
                (at.is_some() || !only_here) && (-40..30).contains(minutes)
            })
            .map(|(_, hash)| hash.clone())
            .collect()
    };
    let query = format!(
        "/events?EQ_bizLocation={}&{}",
        segment(LOCATION),
        window(-40, 30)
    );
    let found = in_window(true);
    assert_eq!(found.len(), 5);
    let (status, _, answer) = ask(&pipeline, &query, &regulator).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hashes(&answer), found);
    // One a page, through the listed entries.
    assert_eq!(one_a_page(&pipeline, &query, &regulator).await, found);
    // The read point every one of them has, and the other site's.
    let read_at = |place: &str| {
        format!(
            "/events?EQ_readPoint={}&{}",
            segment(place),
            window(-40, 30)
        )
    };
    let (_, _, answer) = ask(&pipeline, &read_at(LOCATION), &regulator).await;
    assert_eq!(hashes(&answer), in_window(false));
    let (_, _, answer) = ask(&pipeline, &read_at(B_LOCATION), &regulator).await;
    assert_eq!(events(&answer).len(), 1, "{answer}");
    assert_eq!(
        events(&answer)[0]["readPoint"]["id"],
        B_LOCATION,
        "{answer}"
    );
    // Ordered, the same events by event time.
    let (status, _, answer) = ask(
        &pipeline,
        &format!("{query}&orderBy=eventTime&orderDirection=ASC"),
        &regulator,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let mut by_time: Vec<(i64, String)> = spec
        .iter()
        .zip(&captured)
        .filter(|((minutes, at), _)| at.is_some() && (-40..30).contains(minutes))
        .map(|((minutes, _), hash)| (*minutes, hash.clone()))
        .collect();
    by_time.sort();
    let by_time: Vec<String> = by_time.into_iter().map(|(_, hash)| hash).collect();
    assert_eq!(hashes(&answer), by_time);
    // Captured after the index's last step: found too, as the index catches up or not.
    let later = pipeline
        .capture(vec![around_midnight(-5, here), around_midnight(-5, None)])
        .await;
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    pipeline.wait_for_checkpoint(size).await;
    let (_, _, answer) = ask(&pipeline, &query, &regulator).await;
    let mut found = found;
    found.push(later[0].clone());
    assert_eq!(hashes(&answer), found);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_parameter_finds_its_events_for_a_regulator() {
    let pipeline = Pipeline::start(|_| {}).await;
    let captured = pipeline.capture(journey()).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let q = |path: &str| {
        let pipeline = &pipeline;
        let regulator = regulator.clone();
        let path = path.to_owned();
        async move { ask(pipeline, &path, &regulator).await }
    };
    let expect = |picked: &[usize]| -> Vec<String> {
        picked.iter().map(|at| captured[*at].clone()).collect()
    };

    // Everything, in log order, each event with its entry, hash, record time and reporter.
    let (status, headers, all) = q("/events").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["type"], "EPCISQueryDocument");
    assert_eq!(
        all["@context"],
        json!(["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"])
    );
    assert_eq!(
        all["epcisBody"]["queryResults"]["queryName"],
        "SimpleEventQuery"
    );
    assert_eq!(header(&headers, "gs1-epcis-version"), Some("2.0.0"));
    assert_eq!(header(&headers, "gs1-cbv-version"), Some("2.0.0"));
    assert_eq!(next_link(&headers), None, "one page holds all");
    assert_eq!(hashes(&all), captured);
    for (at, event) in events(&all).iter().enumerate() {
        let entry = &event[LEDGER_MEMBER];
        assert_eq!(entry["leafIndex"], json!(at), "{event}");
        assert!(entry["checkpointSize"].as_u64().unwrap() >= captured.len() as u64);
        assert_eq!(entry["reportedBy"]["device"], "reader-1");
        assert_eq!(entry["reportedBy"]["site"], SITE);
        assert!(event["recordTime"].is_string(), "{event}");
        // An event of the standard context alone carries none of its own: the document's
        // context is the standard one.
        assert!(event.get("@context").is_none(), "{event}");
    }

    let cases: &[(String, &[usize])] = &[
        (format!("MATCH_epc={ITEM_1}"), &[0, 1, 4, 5]),
        // The Digital Link of the same item finds the same events.
        (format!("MATCH_epc={}", segment(ITEM_1_LINK)), &[0, 1, 4, 5]),
        (format!("MATCH_epc={ITEM_2}"), &[0, 1]),
        (format!("MATCH_inputEPC={ITEM_2}"), &[3]),
        (format!("MATCH_anyEPC={ITEM_2}"), &[0, 1, 3]),
        (format!("MATCH_outputEPC={ITEM_3}"), &[3]),
        (format!("MATCH_parentID={CASE}"), &[1]),
        (format!("MATCH_anyEPC={CASE}"), &[1, 2]),
        (
            "MATCH_anyEPC=urn:epc:idpat:sgtin:0614141.812346.*".to_owned(),
            &[3],
        ),
        (format!("MATCH_epcClass={LOT}"), &[0]),
        (
            "MATCH_epcClass=urn:epc:idpat:sgtin:0614141.812345.*".to_owned(),
            &[0],
        ),
        ("EQ_bizStep=shipping".to_owned(), &[2]),
        (
            "EQ_bizStep=commissioning|receiving".to_owned(),
            &[0, 3, 4, 5],
        ),
        ("EQ_disposition=in_transit".to_owned(), &[2]),
        (
            "eventType=AggregationEvent|TransformationEvent".to_owned(),
            &[1, 3],
        ),
        ("EQ_action=ADD".to_owned(), &[0, 1]),
        (format!("EQ_bizLocation={LOCATION}"), &[2]),
        (format!("EQ_readPoint={LOCATION}"), &[0, 1, 2, 3, 4, 5]),
        (
            format!(
                "GE_eventTime={}&LT_eventTime={}",
                segment(&at(1)),
                segment(&at(3))
            ),
            &[1, 2],
        ),
        (format!("GE_eventTime={}", segment(&at(4))), &[4, 5]),
        (format!("EQ_eventID={}", segment(SHIPPING_ID)), &[2]),
        ("EXISTS_errorDeclaration=true".to_owned(), &[5]),
        ("EQ_errorReason=incorrect_data".to_owned(), &[5]),
        (
            "EQ_bizTransaction_po=urn:epcglobal:cbv:bt:0614141073467:PO-7".to_owned(),
            &[0],
        ),
        ("GE_quantity_KGM=12".to_owned(), &[0]),
        (
            "EQ_bizStep=shipping&MATCH_epc=urn:epc:idpat:sgtin:0614141.*.*".to_owned(),
            &[],
        ),
    ];
    for (query, picked) in cases {
        let (status, _, answer) = q(&format!("/events?{query}")).await;
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(hashes(&answer), expect(picked), "{query}");
    }

    // The resources that are the same query with one parameter set by the path.
    let resources: &[(String, &[usize])] = &[
        (format!("/epcs/{}/events", segment(ITEM_1)), &[0, 1, 4, 5]),
        ("/bizSteps/shipping/events".to_owned(), &[2]),
        ("/eventTypes/AggregationEvent/events".to_owned(), &[1]),
        ("/dispositions/in_transit/events".to_owned(), &[2]),
        (format!("/bizLocations/{}/events", segment(LOCATION)), &[2]),
        (
            format!(
                "/readPoints/{}/events?EQ_bizStep=receiving",
                segment(LOCATION)
            ),
            &[4, 5],
        ),
        (format!("/events/{}", segment(SHIPPING_ID)), &[2]),
    ];
    for (path, picked) in resources {
        let (status, _, answer) = q(path).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(hashes(&answer), expect(picked), "{path}");
    }
    let (status, _, answer) = q(&format!(
        "/events/{}",
        segment("urn:uuid:00000000-0000-4000-8000-000000000000")
    ))
    .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(exception(&answer), "epcisException:NoSuchNameException");
    let (status, _, answer) = q("/bizSteps/shipping/events?EQ_bizStep=receiving").await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("set by this resource's path")
    );

    // Ordered: newest first by default, then ascending; the first N; a count refused.
    let (_, _, newest) = q("/events?orderBy=eventTime").await;
    assert_eq!(hashes(&newest), expect(&[5, 4, 3, 2, 1, 0]));
    let (_, _, first) = q("/events?orderBy=eventTime&orderDirection=ASC&eventCountLimit=2").await;
    assert_eq!(hashes(&first), expect(&[0, 1]));
    let (status, _, answer) = q("/events?maxEventCount=5").await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(exception(&answer), "epcisException:QueryTooLargeException");
    // The refusal tells that more than 5 match: it is on the access log, as an answer of none.
    let refused: Vec<ledger::access_log::AccessEntry> = pipeline
        .access_entries()
        .await
        .into_iter()
        .filter(|entry| entry.target == "/events?maxEventCount=5")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].answered, 0);
    let (status, _, answer) = q(&format!("/events?maxEventCount=4&MATCH_epc={ITEM_1}")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hashes(&answer).len(), 4);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_one_checkpoint_and_their_tokens_cannot_be_reused_or_altered() {
    let pipeline = Pipeline::start(|_| {}).await;
    let captured = pipeline.capture(journey()).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let other = token(&pipeline, registry::Role::Regulator, &[], None).await;

    // Three pages of two, in log order; an event captured meanwhile is not in them (they are
    // read as of the first page's checkpoint), and is in a new first page.
    let (status, headers, page) = ask(&pipeline, "/events?perPage=2", &regulator).await;
    assert_eq!(status, 200, "{page}");
    let mut seen = hashes(&page);
    let mut next = next_link(&headers).expect("a next page");
    assert!(header(&headers, "gs1-next-page-token-expires").is_some());
    let later = pipeline
        .capture(vec![object(9, "OBSERVE", &[ITEM_3], "inspecting")])
        .await;
    let mut pages = 1;
    let first_next = next.clone();
    loop {
        let (status, headers, page) = ask(&pipeline, &next, &regulator).await;
        assert_eq!(status, 200, "{next}: {page}");
        seen.extend(hashes(&page));
        pages += 1;
        match next_link(&headers) {
            Some(link) => next = link,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen, captured,
        "every event once, in order, none of the later one"
    );
    let (_, _, fresh) = ask(&pipeline, "/events?perPage=10", &regulator).await;
    assert_eq!(hashes(&fresh).last(), later.last());

    // The token is the query's and the credential's: another credential, another query, an
    // altered token and a made-up one are refused with the binding's exception.
    let token = first_next
        .split("nextPageToken=")
        .nth(1)
        .unwrap()
        .to_owned();
    let refusals = [
        (
            first_next.clone(),
            other.clone(),
            "another query or another credential",
        ),
        (
            format!("/events?perPage=2&EQ_bizStep=shipping&nextPageToken={token}"),
            regulator.clone(),
            "another query or another credential",
        ),
        (
            format!("/events?perPage=2&nextPageToken={}", {
                let mut altered = token.clone().into_bytes();
                altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
                String::from_utf8(altered).unwrap()
            }),
            regulator.clone(),
            "altered",
        ),
        (
            "/events?perPage=2&nextPageToken=made-up".to_owned(),
            regulator.clone(),
            "not a token",
        ),
    ];
    for (path, credential, says) in refusals {
        let (status, _, answer) = ask(&pipeline, &path, &credential).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(exception(&answer), "epcisException:QueryParameterException");
        assert!(
            answer["detail"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked_on_every_request_and_partners_see_their_sites_only() {
    let pipeline = Pipeline::start(|_| {}).await;
    let b_token = register_b(&pipeline).await;
    let captured = pipeline.capture(journey()).await;
    let b_event = json!({
        "type": "ObjectEvent", "eventTime": at(6), "eventTimeZoneOffset": "+00:00",
        "epcList": [ITEM_1], "action": "OBSERVE", "bizStep": "inspecting",
        "readPoint": {"id": B_LOCATION},
    });
    let (status, body) = capture_as_b(&pipeline, &b_token, vec![b_event]).await;
    assert_eq!(status / 100, 2, "{body}");
    let b_hash = body["receipts"][0]["eventHash"]
        .as_str()
        .unwrap()
        .to_owned();

    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let partner_a = token(&pipeline, registry::Role::Partner, &[SITE], None).await;
    let partner_b = token(&pipeline, registry::Role::Partner, &["rival-depot"], None).await;
    let path = format!("/events?MATCH_epc={ITEM_1}");
    let (_, _, all) = ask(&pipeline, &path, &regulator).await;
    let mut everything = vec![
        captured[0].clone(),
        captured[1].clone(),
        captured[4].clone(),
        captured[5].clone(),
    ];
    everything.push(b_hash.clone());
    assert_eq!(hashes(&all), everything);
    let (_, _, a) = ask(&pipeline, &path, &partner_a).await;
    assert_eq!(
        hashes(&a),
        everything[..4].to_vec(),
        "A's partner sees A's events"
    );
    let (_, _, b) = ask(&pipeline, &path, &partner_b).await;
    assert_eq!(hashes(&b), vec![b_hash], "B's partner sees B's event only");
    let (status, _, answer) = ask(
        &pipeline,
        &format!("/events/{}", segment(SHIPPING_ID)),
        &partner_b,
    )
    .await;
    assert_eq!(
        status, 404,
        "another site's event is not there for B: {answer}"
    );

    // No credential, a malformed one, a capture token, a revoked one: 401, with the scheme.
    let (status, headers, body) = pipeline.get_with("/events", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        header(&headers, "www-authenticate"),
        Some("Bearer realm=\"tagtrail\"")
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(exception(&body), "epcisException:SecurityException");
    for (credential, says) in [
        ("not-a-token".to_owned(), "Bearer tt_"),
        (b_token.clone(), "not one this service issued"),
    ] {
        let (status, _, answer) = ask(&pipeline, "/events", &credential).await;
        assert_eq!(status, 401, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let admin = pipeline.db.connect().await.unwrap();
    let id = registry::TokenId::parse(&partner_a[3..19]).unwrap();
    registry::revoke_access_token(&admin, &id).await.unwrap();
    let (status, _, answer) = ask(&pipeline, "/events", &partner_a).await;
    assert_eq!(status, 401, "revoked: refused at once: {answer}");
    assert!(answer["detail"].as_str().unwrap().contains("revoked"));

    // A token that expires in a second is refused once it has.
    let brief = token(&pipeline, registry::Role::Regulator, &[], Some(1)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, _, answer) = ask(&pipeline, "/events?perPage=1", &brief).await;
        if status == 401 {
            assert!(
                answer["detail"].as_str().unwrap().contains("expired"),
                "{answer}"
            );
            break;
        }
        assert_eq!(status, 200, "{answer}");
        assert!(
            std::time::Instant::now() < deadline,
            "the token never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    pipeline.stop().await;
}

/// `GET /events/{eventID}` finds an event wherever it is in the log, through its lookup, both
/// once the index covers it and before: here past the first 10,000 entries, which a scan of the
/// log answers a page at a time (and answered 404 for before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_found_by_its_id_past_the_first_page_of_the_log() {
    const ID: &str = "urn:uuid:0b0c6a3e-7a55-4c1e-9d33-5f1c2c9a7e01";
    let pipeline = Pipeline::start(|_| {}).await;
    let warmed = pipeline.warm_index().await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    for chunk in 0..11u32 {
        let filler: Vec<Value> = (0..1000u32)
            .map(|n| {
                let serial = format!("urn:epc:id:sgtin:0614141.812345.{}", chunk * 1000 + n);
                object(n % 60, "OBSERVE", &[serial.as_str()], "inspecting")
            })
            .collect();
        pipeline.capture(filler).await;
    }
    // (A serial no filler has: the event hash leaves the eventID out.)
    let mut wanted = object(
        1,
        "OBSERVE",
        &["urn:epc:id:sgtin:0614141.812345.999999"],
        "inspecting",
    );
    wanted["eventID"] = json!(ID);
    let captured = pipeline.capture(vec![wanted]).await;
    let path = format!("/events/{}", segment(ID));
    // Before the index covers it (if it does not yet), and after.
    let size = u64::from(warmed) + 11_001;
    pipeline.wait_for_checkpoint(size).await;
    let (status, _, answer) = ask(&pipeline, &path, &regulator).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hashes(&answer), captured, "{answer}");
    pipeline.wait_for_index(size).await;
    let (status, _, answer) = ask(&pipeline, &path, &regulator).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hashes(&answer), captured, "{answer}");
    let (status, _, answer) = ask(
        &pipeline,
        &format!(
            "/events/{}",
            segment("urn:uuid:0b0c6a3e-7a55-4c1e-9d33-5f1c2c9a7e02")
        ),
        &regulator,
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_bad_query_gets_the_binding_s_exception_and_changes_nothing() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline.capture(journey()).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let long = format!("/events?EQ_bizStep={}", "a".repeat(17 * 1024));
    let cases: Vec<(String, u16, &str, &str)> = vec![
        (
            "/events?EQ_colour=red".into(),
            400,
            "QueryParameterException",
            "EQ_colour",
        ),
        (
            "/events?EQ_bizStep=shipping&EQ_bizStep=receiving".into(),
            400,
            "QueryParameterException",
            "given twice",
        ),
        (
            "/events?GE_eventTime=yesterday".into(),
            400,
            "QueryParameterException",
            "RFC 3339",
        ),
        (
            "/events?EQ_action=MOVE".into(),
            400,
            "QueryParameterException",
            "MOVE",
        ),
        (
            "/events?eventCountLimit=2".into(),
            400,
            "QueryParameterException",
            "needs orderBy",
        ),
        (
            "/events?perPage=0".into(),
            400,
            "QueryParameterException",
            "perPage",
        ),
        (
            "/events?perPage=100000".into(),
            400,
            "QueryParameterException",
            "at most",
        ),
        (
            "/events?MATCH_epc=urn:epc:idpat:sgtin:*.1.*".into(),
            400,
            "QueryParameterException",
            "only the last",
        ),
        (long, 414, "URITooLongException", "longer than"),
    ];
    let (_, _, before) = ask(&pipeline, "/events", &regulator).await;
    for (path, status, kind, says) in cases {
        let (answered, headers, answer) = ask(&pipeline, &path, &regulator).await;
        assert_eq!(
            answered,
            status,
            "{}: {answer}",
            &path[..path.len().min(80)]
        );
        assert_eq!(
            exception(&answer),
            format!("epcisException:{kind}"),
            "{answer}"
        );
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/problem+json")
        );
        assert!(
            answer["detail"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    // The binding's negotiation headers: a version range without the served one, a malformed
    // version, a format that is none of the binding's.
    let bearer = format!("Bearer {regulator}");
    for (name, value, status, kind) in [
        ("GS1-EPCIS-Min", "3.0.0", 406, "NotAcceptableException"),
        ("GS1-CBV-Max", "1.2.0", 406, "NotAcceptableException"),
        ("GS1-EPCIS-Max", "two", 400, "QueryParameterException"),
        (
            "GS1-EPC-Format",
            "Sometimes",
            400,
            "QueryParameterException",
        ),
    ] {
        let (answered, _, body) = pipeline
            .get_with(
                "/events",
                &[("Authorization", bearer.as_str()), (name, value)],
            )
            .await;
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answered, status, "{name}: {answer}");
        assert_eq!(exception(&answer), format!("epcisException:{kind}"));
        assert!(
            answer["detail"].as_str().unwrap().contains(name),
            "{answer}"
        );
    }
    let (answered, _, _) = pipeline
        .get_with(
            "/events",
            &[
                ("Authorization", bearer.as_str()),
                ("GS1-EPC-Format", "Never_Translates"),
                ("GS1-EPCIS-Min", "2.0"),
            ],
        )
        .await;
    assert_eq!(answered, 200);
    let (_, _, after) = ask(&pipeline, "/events", &regulator).await;
    assert_eq!(hashes(&before), hashes(&after));
    pipeline.stop().await;
}

/// `OPTIONS` of every query route is the binding's discovery: `204`, the versions and formats
/// served and the methods the route allows, with no credential (it reads nothing of the ledger);
/// a resource route's path value no query takes is a `400`, as its `GET` answers; any other
/// method is a `405` naming `OPTIONS` among the allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_route_answers_the_binding_s_discovery() {
    let pipeline = Pipeline::start(|_| {}).await;
    let read = "GET, HEAD, OPTIONS";
    let routes = [
        ("/events".to_owned(), read),
        (format!("/events/{}", segment(SHIPPING_ID)), read),
        ("/eventTypes/ObjectEvent/events".to_owned(), read),
        (format!("/epcs/{}/events", segment(ITEM_1)), read),
        ("/bizSteps/shipping/events".to_owned(), read),
        (format!("/bizLocations/{}/events", segment(LOCATION)), read),
        (format!("/readPoints/{}/events", segment(LOCATION)), read),
        ("/dispositions/in_transit/events".to_owned(), read),
        ("/queries/no-such-query/events".to_owned(), read),
        ("/queries".to_owned(), "GET, HEAD, POST, OPTIONS"),
        (
            "/queries/no-such-query".to_owned(),
            "GET, HEAD, DELETE, OPTIONS",
        ),
        (
            "/queries/no-such-query/subscriptions".to_owned(),
            "GET, HEAD, POST, OPTIONS",
        ),
        (
            "/queries/no-such-query/subscriptions/x".to_owned(),
            "GET, HEAD, DELETE, OPTIONS",
        ),
    ];
    for (path, allow) in &routes {
        let (status, headers, body) = pipeline.request_raw("OPTIONS", path).await;
        assert_eq!(status, 204, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(body.is_empty(), "{path}");
        for (name, value) in [
            ("Allow", *allow),
            ("GS1-EPCIS-Version", "2.0.0"),
            ("GS1-EPCIS-Min", "2.0.0"),
            ("GS1-EPCIS-Max", "2.0.0"),
            ("GS1-CBV-Version", "2.0.0"),
            ("GS1-CBV-Min", "2.0.0"),
            ("GS1-CBV-Max", "2.0.0"),
            ("GS1-EPC-Format", "Never_Translates"),
            ("GS1-CBV-XML-Format", "Never_Translates"),
        ] {
            assert_eq!(header(&headers, name), Some(value), "{path}: {name}");
        }
        // Another method names OPTIONS among those allowed.
        let (status, headers, _) = pipeline.request_raw("PUT", path).await;
        assert_eq!(status, 405, "{path}");
        assert_eq!(header(&headers, "Allow"), Some(*allow), "{path}");
    }
    // A path value the route's query does not take, refused as its GET refuses it.
    let (status, headers, body) = pipeline
        .request_raw("OPTIONS", "/eventTypes/NoSuchEvent/events")
        .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "GS1-EPCIS-Version"), None);
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        problem["type"], "epcisException:QueryParameterException",
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("NoSuchEvent"),
        "{problem}"
    );
    pipeline.stop().await;
}
