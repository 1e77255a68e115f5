//! `GET /items/{id}/history`: an item's events and those of its containers while it was inside,
//! in event-time order, in every identifier form, paged at one checkpoint.

use serde_json::{Value, json};

use crate::common::{Pipeline, SITE, aggregation, object, segment};

const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";
/// The SGTIN-96 encoding of `ITEM` (filter 3), as a reader reads the tag's EPC bank.
const ITEM_HEX: &str = "3074257BF7194E4000001A85";
const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
const PALLET: &str = "urn:epc:id:sscc:0614141.2234567890";
const OTHER: &str = "urn:epc:id:sgtin:0614141.812345.1000";

/// The journey: (minute, event, reasons expected in the item's history; none: not in it).
fn journey() -> Vec<(u32, Value, Vec<Value>)> {
    let direct = json!({"kind": "direct"});
    let case = json!({"kind": "container", "container": CASE});
    let pallet = json!({"kind": "container", "container": PALLET});
    vec![
        // Sold last, but captured first: the history is in event-time order, not log order.
        (
            10,
            object(10, "OBSERVE", &[ITEM], "retail_selling"),
            vec![direct.clone()],
        ),
        (
            0,
            object(0, "ADD", &[ITEM], "commissioning"),
            vec![direct.clone()],
        ),
        (1, object(1, "OBSERVE", &[CASE], "inspecting"), vec![]),
        (
            2,
            aggregation(2, "ADD", CASE, &[ITEM]),
            vec![case.clone(), direct.clone()],
        ),
        (
            3,
            aggregation(3, "ADD", PALLET, &[CASE]),
            vec![case.clone(), pallet.clone()],
        ),
        (
            4,
            object(4, "OBSERVE", &[PALLET], "shipping"),
            vec![pallet.clone()],
        ),
        (
            5,
            aggregation(5, "DELETE", PALLET, &[]),
            vec![pallet.clone()],
        ),
        (6, object(6, "OBSERVE", &[PALLET], "shipping"), vec![]),
        (
            7,
            object(7, "OBSERVE", &[CASE], "receiving"),
            vec![case.clone()],
        ),
        (
            8,
            aggregation(8, "DELETE", CASE, &[ITEM]),
            vec![case.clone(), direct.clone()],
        ),
        (9, object(9, "OBSERVE", &[CASE], "storing"), vec![]),
        (11, object(11, "OBSERVE", &[OTHER], "storing"), vec![]),
    ]
}

/// Sorts reasons as the service does (direct first, then containers by name).
fn sorted(mut reasons: Vec<Value>) -> Vec<Value> {
    reasons.sort_by_key(|why| match why["kind"].as_str().unwrap() {
        "direct" => (0, String::new()),
        _ => (1, why["container"].as_str().unwrap_or_default().to_owned()),
    });
    reasons
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_follows_the_item_through_its_case_and_pallet() {
    let pipeline = Pipeline::start(|_| {}).await;
    let journey = journey();
    let hashes = pipeline
        .capture(journey.iter().map(|(_, event, _)| event.clone()).collect())
        .await;
    let (status, body) = pipeline
        .get(&format!("/items/{}/history", segment(ITEM)))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut expected: Vec<(u32, String, Vec<Value>)> = journey
        .iter()
        .zip(&hashes)
        .filter(|((_, _, why), _)| !why.is_empty())
        .map(|((minute, _, why), hash)| (*minute, hash.clone(), sorted(why.clone())))
        .collect();
    expected.sort_by_key(|(minute, _, _)| *minute);
    let events = body["events"].as_array().unwrap();
    let found: Vec<(String, Vec<Value>)> = events
        .iter()
        .map(|e| {
            (
                e["eventHash"].as_str().unwrap().to_owned(),
                sorted(e["why"].as_array().unwrap().clone()),
            )
        })
        .collect();
    let wanted: Vec<(String, Vec<Value>)> = expected
        .iter()
        .map(|(_, hash, why)| (hash.clone(), why.clone()))
        .collect();
    assert_eq!(found, wanted);
    assert_eq!(body["total"], expected.len());
    assert_eq!(body["next"], Value::Null);
    assert_eq!(body["item"]["form"], "epc-uri");
    // Each event says who reported it (the device, and the organisation of its site), whether
    // that party had authority for what it does, when it was captured and where it is in the log.
    for event in events {
        assert_eq!(
            event["reportedBy"],
            json!({"device": "reader-1", "organisation": SITE})
        );
        let kind = event["authority"]["kind"].as_str().unwrap();
        let observes = event["event"]["type"] == "ObjectEvent"
            && event["event"]["action"] == "OBSERVE"
            && !["shipping", "receiving", "retail_selling"]
                .contains(&event["event"]["bizStep"].as_str().unwrap());
        let expected = if observes {
            "observation"
        } else {
            "authorised"
        };
        assert_eq!(kind, expected, "{event}");
        assert!(event["capturedAt"].as_str().unwrap().ends_with('Z'));
        assert!(
            event["leafIndex"].as_u64().unwrap() < body["checkpoint"]["treeSize"].as_u64().unwrap()
        );
        assert_eq!(event["event"]["eventTime"], event["eventTime"]);
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_identifier_form_finds_the_same_history_and_bad_ones_say_why() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline
        .capture(journey().into_iter().map(|(_, event, _)| event).collect())
        .await;
    let link = epcis::digital_link::urn_to_digital_link(ITEM).unwrap();
    let mut answers = Vec::new();
    for (id, form) in [
        (ITEM, "epc-uri"),
        (link.as_str(), "digital-link"),
        (ITEM_HEX, "tag-hex"),
    ] {
        let (status, body) = pipeline
            .get(&format!("/items/{}/history", segment(id)))
            .await;
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(body["item"]["form"], form);
        assert!(
            body["item"]["epcs"]
                .as_array()
                .unwrap()
                .contains(&json!(ITEM)),
            "{body}"
        );
        let hashes: Vec<Value> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eventHash"].clone())
            .collect();
        answers.push(hashes);
    }
    assert_eq!(answers[0].len(), 8);
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);

    for (bad, names) in [
        ("banana", vec!["epc-uri", "digital-link", "tag-hex"]),
        ("urn:epc:id:sgtin:0614141.812345", vec!["epc-uri"]),
        ("https://example.com/nothing", vec!["digital-link"]),
        ("30FF", vec!["tag-hex"]),
    ] {
        let (status, body) = pipeline
            .get(&format!("/items/{}/history", segment(bad)))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        let detail = body["detail"].as_str().unwrap();
        for name in names {
            assert!(detail.contains(&format!("as {name},")), "{bad}: {detail}");
        }
    }
    // An item no event names has an empty history.
    let (status, body) = pipeline
        .get(&format!(
            "/items/{}/history",
            segment("urn:epc:id:sgtin:0614141.812345.4242")
        ))
        .await;
    assert_eq!((status, body["total"].as_u64()), (200, Some(0)), "{body}");
    pipeline.stop().await;
}

/// The tree a page's checkpoint is of: its origin, size and root hash lines.
fn tree_of(page: &Value) -> Vec<String> {
    let note = page["checkpoint"]["note"].as_str().unwrap();
    note.lines().take(3).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_stay_on_the_checkpoint_of_the_first_page() {
    let pipeline = Pipeline::start(|_| {}).await;
    let events: Vec<Value> = (0..7)
        .map(|minute| object(minute, "OBSERVE", &[ITEM], "storing"))
        .collect();
    let hashes = pipeline.capture(events).await;
    let base = format!("/items/{}/history", segment(ITEM));
    let (status, first) = pipeline.get(&format!("{base}?limit=3")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["events"].as_array().unwrap().len(), 3);
    // More of the item's events arrive between pages: the pages go on at the first checkpoint.
    pipeline
        .capture(vec![object(30, "OBSERVE", &[ITEM], "storing")])
        .await;
    let mut seen: Vec<Value> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventHash"].clone())
        .collect();
    let mut next = first["next"].as_str().map(str::to_owned);
    while let Some(cursor) = next {
        let (status, page) = pipeline
            .get(&format!("{base}?limit=3&cursor={}", segment(&cursor)))
            .await;
        assert_eq!(status, 200, "{page}");
        // The first page's tree: its checkpoint, or (the log idle meanwhile, the index caught
        // up) the same tree's signed again with a larger index line.
        assert_eq!(tree_of(&page), tree_of(&first));
        assert_eq!(page["total"], 7);
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["eventHash"].clone()),
        );
        next = page["next"].as_str().map(str::to_owned);
    }
    let wanted: Vec<Value> = hashes.iter().map(|h| json!(h)).collect();
    assert_eq!(seen, wanted);
    // A new first page sees the new event.
    let (_, fresh) = pipeline.get(&base).await;
    assert_eq!(fresh["total"], 8);

    for (query, what) in [
        ("?limit=0", "limit"),
        ("?limit=100000", "limit"),
        ("?cursor=nonsense", "cursor"),
        ("?cursor=999999.0", "checkpoint"),
        ("?colour=blue", "colour"),
    ] {
        let (status, body) = pipeline.get(&format!("{base}{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(what),
            "{query}: {body}"
        );
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transformation_brings_in_the_inputs_history_before_it() {
    let pipeline = Pipeline::start(|_| {}).await;
    let flour = "urn:epc:id:sgtin:0614141.812345.7001";
    let bread = "urn:epc:id:sgtin:0614141.812345.7002";
    let transformation = json!({
        "type": "TransformationEvent",
        "eventTime": crate::common::at(5),
        "eventTimeZoneOffset": "+00:00",
        "transformationID": "urn:epc:id:gdti:0614141.12345.400",
        "inputEPCList": [flour],
        "outputEPCList": [bread],
        "bizStep": "commissioning",
        "readPoint": {"id": crate::common::LOCATION},
    });
    let hashes = pipeline
        .capture(vec![
            object(1, "ADD", &[flour], "commissioning"),
            transformation,
            object(6, "OBSERVE", &[flour], "storing"),
            object(7, "OBSERVE", &[bread], "shipping"),
        ])
        .await;
    let (status, body) = pipeline
        .get(&format!("/items/{}/history", segment(bread)))
        .await;
    assert_eq!(status, 200, "{body}");
    let found: Vec<(Value, Vec<Value>)> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["eventHash"].clone(), e["why"].as_array().unwrap().clone()))
        .collect();
    let transformation_leaf = body["events"][1]["leafIndex"].clone();
    let via =
        json!({"kind": "transformation", "via": flour, "transformation": transformation_leaf});
    assert_eq!(
        found,
        vec![
            (json!(hashes[0]), vec![via.clone()]),
            (json!(hashes[1]), vec![json!({"kind": "direct"}), via]),
            (json!(hashes[3]), vec![json!({"kind": "direct"})]),
        ]
    );
    pipeline.stop().await;
}

/// The history of `item` as served: each event's (leafIndex, declares, declaredErroneousBy).
async fn declarations_in(pipeline: &Pipeline, item: &str) -> Vec<(u64, Value, Value)> {
    let (status, body) = pipeline
        .get(&format!("/items/{}/history", segment(item)))
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            (
                event["leafIndex"].as_u64().unwrap(),
                event["declares"].clone(),
                event["declaredErroneousBy"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_declaration_rows_the_log_does_not_bear_out_are_not_served() {
    let pipeline = Pipeline::start(|_| {}).await;
    let commissioned = object(0, "ADD", &[ITEM], "commissioning");
    let mut declaration = object(0, "ADD", &[ITEM], "commissioning");
    declaration["errorDeclaration"] = json!({
        "declarationTime": crate::common::at(2),
        "reason": "incorrect_data",
    });
    pipeline.capture(vec![commissioned]).await;
    pipeline
        .capture(vec![object(1, "OBSERVE", &[ITEM], "shipping")])
        .await;
    pipeline.capture(vec![declaration]).await;
    let honest = declarations_in(&pipeline, ITEM).await;
    // The commissioning (leaf 0) is declared erroneous by the declaration (leaf 2), which says so.
    assert!(honest.contains(&(0, Value::Null, json!([2]))), "{honest:?}");
    assert!(honest.contains(&(1, Value::Null, json!([]))), "{honest:?}");

    // Rows ingest's role can write but the log does not bear out: the shipping event (leaf 1)
    // "declares" the commissioning erroneous, and an entry far beyond the log does too.
    let admin = pipeline.db.connect().await.unwrap();
    let hash: Vec<u8> = admin
        .query_one(
            "SELECT event_hash FROM error_declarations WHERE declaration_leaf = 2",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    for forged in [1i64, 3019] {
        admin
            .execute(
                "INSERT INTO error_declarations (declaration_leaf, declared_leaf, event_hash)
                 VALUES ($1, 0, $2)",
                &[&forged, &hash],
            )
            .await
            .unwrap();
    }
    assert_eq!(declarations_in(&pipeline, ITEM).await, honest);
    let (status, body) = pipeline.get("/health/ready").await;
    assert_eq!(status, 200, "{body}");
    // Leaf 1 contradicts the log and is refused; 3019 is not in any checkpoint's tree yet.
    assert_eq!(
        body["refusedEvidence"]["declarations"],
        json!([1]),
        "{body}"
    );
    let (_, metrics) = pipeline.get_text("/metrics").await;
    assert!(
        metrics.contains("trace_evidence_refused{kind=\"declaration\"} 1"),
        "{metrics}"
    );
    pipeline.stop().await;
}

/// Waits until the lookups cover the log's first `size` entries, then captures one
/// inspection of an item of its own (`urn:epc:id:sgtin:0614141.812345.77`) and waits for
/// trace-api's checkpoint to commit to an index of `size` entries or more (sooner than waiting
/// for the idle log's checkpoint to be signed again with the index caught up).
async fn index_through(pipeline: &Pipeline, size: u64) {
    let admin = pipeline.db.connect().await.unwrap();
    for _ in 0..600 {
        let covered: i64 = admin
            .query_one("SELECT coalesce(max(end_leaf), 0) FROM lookup_runs", &[])
            .await
            .unwrap()
            .get(0);
        if u64::try_from(covered).unwrap() >= size {
            pipeline
                .capture(vec![object(
                    0,
                    "OBSERVE",
                    &["urn:epc:id:sgtin:0614141.812345.77"],
                    "inspecting",
                )])
                .await;
            pipeline.wait_for_index(size).await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the lookups did not cover {size} entries within 30 s");
}

/// An item named by 1,000 events, more lookup pairs (24 bytes each) than an answer of 16 KiB
/// pays for (682): its history and bundle are refused as over the byte budget, from the lookups
/// (which stop reading a few pages past what the budget has left: `ledger-store`'s
/// `a_lookup_of_at_most_some_pairs_stops_reading_a_flooded_key` counts the pages) as from the
/// scan of entries the lookups do not cover yet, and the budget's share is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_named_by_more_events_than_the_budget_pays_lookups_for_is_refused() {
    let pipeline = small_budget().await;
    let mut events = vec![object(0, "ADD", &[ITEM], "commissioning")];
    // A second apart (distinct events: the same event twice is one entry).
    events.extend((1..1_000).map(|n| {
        let mut event = object(1 + n / 60, "OBSERVE", &[ITEM], "inspecting");
        let minute = event["eventTime"].as_str().unwrap().to_owned();
        let second = format!(":{:02}.000Z", n % 60);
        event["eventTime"] = json!(minute.replace(":00.000Z", &second));
        event
    }));
    events.push(object(0, "ADD", &[OTHER], "commissioning"));
    pipeline.capture(events).await;
    for indexed in [false, true] {
        if indexed {
            index_through(&pipeline, 1_001).await;
        }
        for what in ["history", "bundle"] {
            over_budget(&pipeline, what).await;
        }
    }
    other_answered_and_budget_given_back(&pipeline).await;
    pipeline.stop().await;
}

/// A pipeline whose answers may load 16 KiB each (64 KiB at once, entries of at most 4 KiB).
/// What refused answers loaded is charged to the client too: paid back at once here, so that
/// the tests see the refusals themselves (the byte rate has its own).
async fn small_budget() -> Pipeline {
    Pipeline::start(|config| {
        config.limits.max_answer_bytes = 16 * 1024;
        config.limits.max_inflight_bytes = 64 * 1024;
        config.limits.max_event_bytes = 4 * 1024;
        config.limits.answer_bytes_per_second = 1 << 30;
    })
    .await
}

/// `GET /items/{ITEM}/{what}` is refused as over a byte budget of 16 KiB (422); the problem.
async fn over_budget(pipeline: &Pipeline, what: &str) -> Value {
    let (status, body) = pipeline
        .get(&format!("/items/{}/{what}", segment(ITEM)))
        .await;
    assert_eq!(status, 422, "{what}: {body}");
    assert_eq!(body["type"], "https://tagtrail.dev/problems/too-much");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("more than 16384 bytes of events"),
        "{what}: {body}"
    );
    body
}

/// The history of `OTHER` is answered, and no answer holds any of the shared byte budget.
async fn other_answered_and_budget_given_back(pipeline: &Pipeline) {
    let (status, body) = pipeline
        .get(&format!("/items/{}/history", segment(OTHER)))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = pipeline.get_text("/metrics").await;
    assert!(
        metrics.contains("trace_answer_bytes_in_flight 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_that_would_load_more_than_its_byte_budget_is_refused_before_it_does() {
    // Each padded event is about 3 KB of JSON; the budget is 16 KB per answer.
    let pipeline = small_budget().await;
    let padded = |minute: u32, step: &str| {
        let mut event = object(minute, "OBSERVE", &[ITEM], step);
        event["example:note"] = json!("x".repeat(3_000));
        event
    };
    let mut events = vec![object(0, "ADD", &[ITEM], "commissioning")];
    events.extend((1..=12).map(|minute| padded(minute, "inspecting")));
    events.push(object(0, "ADD", &[OTHER], "commissioning"));
    pipeline.capture(events).await;

    let body = over_budget(&pipeline, "history").await;
    over_budget(&pipeline, "bundle").await;
    // Asked again as of the same checkpoint, the answer is refused without loading an entry
    // (neither from the store's cache nor from the database).
    let entry_reads = |metrics: &str| -> Vec<String> {
        metrics
            .lines()
            .filter(|line| line.starts_with("trace_cache_") && line.contains("cache=\"entries\""))
            .filter(|line| line.contains("_hits_total") || line.contains("_misses_total"))
            .map(str::to_owned)
            .collect()
    };
    let before = entry_reads(&pipeline.get_text("/metrics").await.1);
    assert_eq!(before.len(), 2, "{before:?}");
    for _ in 0..3 {
        let (status, again) = pipeline
            .get(&format!("/items/{}/history", segment(ITEM)))
            .await;
        assert_eq!(status, 422);
        assert_eq!(again["detail"], body["detail"]);
    }
    assert_eq!(entry_reads(&pipeline.get_text("/metrics").await.1), before);
    // Other items are answered, and the refused answers gave their share back.
    other_answered_and_budget_given_back(&pipeline).await;
    pipeline.stop().await;
}
