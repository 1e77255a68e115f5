//! `GET /trace/{id}`: recall tracing through the real services, on a multi-level journey. The
//! brand (the pipeline's site, owner of `0614141`) commissions two lots of items, packs them into
//! cases, the cases onto a pallet, the pallet into a shipment, and ships it to the retailer
//! (`rival`, owner of `0712345`, reporting with its site token from its own place), which
//! receives it, unpacks it and turns two of the items into a new product. The retailer also packs
//! one of the brand's items it never held into a pallet of its own: an attack the trace lists and
//! does not follow.

use serde_json::{Value, json};

use ledger::bundle::{
    CheckName, ExportBundle, Outcome, ProvenanceEvent, TRACE_UNJUDGED, Verdict, fsma204_csv,
    trace_events, verify_export,
};
use ledger::history::Parties;
use ledger::trace::trace_csv;

use crate::common::{LOCATION, Pipeline, SITE, aggregation, at, header, object, segment};
use crate::custody::{B_LOCATION, capture_as_b, register_b};
use crate::query::token;

const LOT_1: &str = "urn:epc:class:lgtin:0614141.812345.R1";
const LOT_2_LINK: &str = "https://id.gs1.org/01/80614141123458/10/R2";
const PRODUCT: &str = "urn:epc:id:sgtin:0712345.512345.900";
const PRODUCT_LOT: &str = "urn:epc:class:lgtin:0712345.512345.P9";
/// The brand's cases, pallet and shipment.
const CASE_1: &str = "urn:epc:id:sscc:0614141.7000000001";
const CASE_2: &str = "urn:epc:id:sscc:0614141.7000000002";
const CASE_3: &str = "urn:epc:id:sscc:0614141.7000000003";
const PALLET: &str = "urn:epc:id:sscc:0614141.7000000011";
const SHIPMENT: &str = "urn:epc:id:sscc:0614141.7000000021";
/// The retailer's own pallet.
const B_PALLET: &str = "urn:epc:id:sscc:0712345.7000000001";

fn item(serial: u32) -> String {
    format!("urn:epc:id:sgtin:0614141.812345.9{serial}")
}

fn commission(minute: u32, items: &[String], lot: &str) -> Value {
    let ids: Vec<&str> = items.iter().map(String::as_str).collect();
    let mut event = object(minute, "ADD", &ids, "commissioning");
    event["ilmd"] = json!({"cbvmda:lotNumber": lot});
    event
}

fn pack(minute: u32, action: &str, parent: &str, children: &[String]) -> Value {
    let ids: Vec<&str> = children.iter().map(String::as_str).collect();
    aggregation(minute, action, parent, &ids)
}

/// The retailer's event, at its own place.
fn at_b(mut event: Value) -> Value {
    event["readPoint"] = json!({"id": B_LOCATION});
    event
}

/// The journey, captured; returns the retailer's site token.
async fn journey(pipeline: &Pipeline) -> String {
    let b = register_b(pipeline).await;
    let items: Vec<String> = (1..=6).map(item).collect();
    let mut shipping = object(8, "OBSERVE", &[SHIPMENT], "shipping");
    shipping["destinationList"] = json!([{"type": "location", "destination": B_LOCATION}]);
    pipeline
        .capture(vec![
            commission(0, &items[0..4], "R1"),
            commission(1, &items[4..6], "R2"),
            pack(2, "ADD", CASE_1, &items[0..2]),
            pack(3, "ADD", CASE_2, &items[2..4]),
            pack(4, "ADD", CASE_3, &items[4..6]),
            pack(5, "ADD", PALLET, &[CASE_1.to_owned(), CASE_2.to_owned()]),
            pack(6, "DELETE", PALLET, &[CASE_2.to_owned()]),
            pack(7, "ADD", SHIPMENT, &[PALLET.to_owned()]),
            shipping,
        ])
        .await;
    let transformation = json!({
        "type": "TransformationEvent",
        "eventTime": at(13),
        "eventTimeZoneOffset": "+00:00",
        "inputEPCList": [items[0], items[1]],
        "outputEPCList": [PRODUCT],
        "outputQuantityList": [{"epcClass": PRODUCT_LOT, "quantity": 10}],
        "bizStep": "commissioning",
        "bizLocation": {"id": B_LOCATION},
    });
    let (status, body) = capture_as_b(
        pipeline,
        &b,
        [
            object(9, "OBSERVE", &[SHIPMENT], "receiving"),
            aggregation(10, "DELETE", SHIPMENT, &[]),
            aggregation(11, "DELETE", PALLET, &[]),
            aggregation(12, "DELETE", CASE_1, &[]),
            transformation,
            object(14, "OBSERVE", &[PRODUCT], "inspecting"),
            // The attack: a pallet of its own around an item it never held.
            pack(15, "ADD", B_PALLET, &items[4..5]),
        ]
        .into_iter()
        .map(at_b)
        .collect(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    pipeline.wait_for_checkpoint(size).await;
    b
}

/// `GET /trace/{id}?query` with a bearer token: status, headers, body.
async fn trace(
    pipeline: &Pipeline,
    id: &str,
    query: &str,
    token: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|value| ("Authorization", value.as_str()))
        .collect();
    let path = format!("/trace/{}?{query}", segment(id));
    pipeline.get_with(&path, &headers).await
}

/// The JSON trace of `id`, which must answer 200.
async fn traced(pipeline: &Pipeline, id: &str, query: &str, token: &str) -> Value {
    let (status, _, body) = trace(pipeline, id, query, Some(token)).await;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(status, 200, "{body}");
    body
}

/// The canonical identifier of an EPC or class, as a trace names it.
fn id(text: &str) -> String {
    ledger::trace::Subject::parse(text).unwrap().id()
}

fn ids(answer: &Value) -> Vec<String> {
    answer["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect()
}

fn reaches(answer: &Value, text: &str) -> bool {
    ids(answer).contains(&id(text))
}

/// A time of an answer, in nanoseconds since the epoch.
fn nanos(time: &Value) -> i128 {
    epcis::document::Timestamp::parse(time.as_str().unwrap())
        .unwrap()
        .unix_nanos()
}

fn edge<'a>(answer: &'a Value, kind: &str, from: &str, to: &str) -> &'a Value {
    answer["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|edge| edge["kind"] == kind && edge["from"] == id(from) && edge["to"] == id(to))
        .unwrap_or_else(|| panic!("no {kind} edge {from} -> {to}: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_traces_a_lot_through_cases_pallets_a_shipment_and_a_transformation() {
    let pipeline = Pipeline::start(|_| {}).await;
    // Checkpoints commit to the index before the journey: the first traces read the index and
    // scan what it does not cover yet; the last, once it covers everything, the index alone.
    pipeline.warm_index().await;
    journey(&pipeline).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;

    // Forward from the bad lot: its items, their cases, the pallet, the shipment it left in,
    // where it went, and what two of its items were made into.
    let forward = traced(&pipeline, LOT_1, "direction=forward", &regulator).await;
    for expected in [
        item(1),
        item(4),
        CASE_1.to_owned(),
        CASE_2.to_owned(),
        PALLET.to_owned(),
        SHIPMENT.to_owned(),
        PRODUCT.to_owned(),
        PRODUCT_LOT.to_owned(),
        LOCATION.to_owned(),
        B_LOCATION.to_owned(),
    ] {
        assert!(reaches(&forward, &expected), "{expected}: {forward}");
    }
    // Not the other lot, nor the retailer's pallet.
    for absent in [item(5), CASE_3.to_owned(), B_PALLET.to_owned()] {
        assert!(!reaches(&forward, &absent), "{absent}: {forward}");
    }
    let shipment = edge(&forward, "contains", SHIPMENT, PALLET);
    assert_eq!(nanos(&shipment["since"]), nanos(&json!(at(7))));
    assert_eq!(nanos(&shipment["until"]), nanos(&json!(at(10))));
    assert_eq!(shipment["reportedBy"], json!(["rival", SITE]));
    edge(&forward, "transformedInto", &item(1), PRODUCT);
    edge(&forward, "lotOf", LOT_1, &item(3));
    edge(&forward, "shippedTo", SHIPMENT, B_LOCATION);
    assert_eq!(forward["direction"], "forward");
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    assert_eq!(forward["checkpoint"]["treeSize"], size);
    // Every edge's evidence has its event hash, to ask for its proof.
    let evidence: Vec<&Value> = forward["events"].as_array().unwrap().iter().collect();
    assert!(!evidence.is_empty());
    for event in evidence {
        let hash = event["eventHash"].as_str().unwrap();
        let (status, proof) = pipeline
            .get_text(&format!("/events/{}/proof", segment(hash)))
            .await;
        assert_eq!(status, 200, "{hash}: {proof}");
        assert!(proof.starts_with("c2sp.org/tlog-proof@v1\n"), "{proof}");
    }

    // A case taken off the pallet before it shipped does not reach the shipment.
    let case_2 = traced(&pipeline, &item(3), "direction=forward", &regulator).await;
    assert!(
        reaches(&case_2, CASE_2) && reaches(&case_2, PALLET),
        "{case_2}"
    );
    assert!(!reaches(&case_2, SHIPMENT), "{case_2}");

    // Backward from the new product: its inputs, their lot and the route they came by; not the
    // lot's other items.
    let backward = traced(&pipeline, PRODUCT, "direction=backward", &regulator).await;
    for expected in [
        item(1),
        item(2),
        LOT_1.to_owned(),
        CASE_1.to_owned(),
        PALLET.to_owned(),
        SHIPMENT.to_owned(),
    ] {
        assert!(reaches(&backward, &expected), "{expected}: {backward}");
    }
    assert!(!reaches(&backward, &item(3)), "{backward}");

    // The retailer's pallet around an item it never held is listed and leads nowhere.
    let lot_2 = traced(&pipeline, LOT_2_LINK, "direction=forward", &regulator).await;
    assert!(
        reaches(&lot_2, &item(5)) && reaches(&lot_2, CASE_3),
        "{lot_2}"
    );
    assert!(!reaches(&lot_2, B_PALLET), "{lot_2}");
    // The attack is the last event the retailer captured.
    let attack = size - 1;
    assert_eq!(
        lot_2["unfollowed"],
        json!([{"leafIndex": attack, "reason": lot_2["unfollowed"][0]["reason"]}]),
        "{lot_2}"
    );
    let reason = lot_2["unfollowed"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("custody"), "{reason}");
    assert_eq!(lot_2["omitted"], json!([]));

    // From the retailer's place over the day: what it received there and what it made.
    let from = at(0);
    let until = at(60);
    let place = traced(
        &pipeline,
        B_LOCATION,
        &format!(
            "direction=forward&from={}&until={}",
            segment(&from),
            segment(&until)
        ),
        &regulator,
    )
    .await;
    for expected in [SHIPMENT, PALLET, CASE_1, PRODUCT] {
        assert!(reaches(&place, expected), "{expected}: {place}");
    }

    // The flat list: a CSV line per node.
    let (status, headers, body) = trace(
        &pipeline,
        LOT_1,
        "direction=forward&format=csv",
        Some(&regulator),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/csv; charset=utf-8")
    );
    let csv = String::from_utf8(body).unwrap();
    assert_eq!(
        csv.split_terminator("\r\n").count(),
        forward["nodes"].as_array().unwrap().len() + 1
    );
    assert!(csv.starts_with("kind,id,depth,directions,from,until,via,evidence\r\nlot,"));

    // The same trace once the verifiable index covers every event (before, the entries it did
    // not cover were read by a scan).
    pipeline.wait_for_index(size).await;
    let indexed = traced(&pipeline, LOT_1, "direction=forward", &regulator).await;
    assert_eq!(indexed["nodes"], forward["nodes"]);
    assert_eq!(indexed["edges"], forward["edges"]);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_needs_a_credential_and_refuses_bad_requests_with_the_binding_s_exceptions() {
    let pipeline = Pipeline::start(|_| {}).await;
    journey(&pipeline).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;

    let (status, headers, _) = trace(&pipeline, LOT_1, "", None).await;
    assert_eq!(status, 401);
    assert!(header(&headers, "www-authenticate").is_some());

    let cases: [(&str, &str, &str); 10] = [
        (
            "not an identifier",
            "",
            "is not an identifier a trace starts from",
        ),
        (
            "https://id.gs1.org/01/80614141123458",
            "",
            "names a whole product",
        ),
        (
            LOT_1,
            "direction=sideways",
            "is not forward, backward or both",
        ),
        (LOT_1, "depth=3", "is not a parameter of a trace"),
        (LOT_1, "direction=forward&direction=backward", "given twice"),
        (
            LOT_1,
            "from=yesterday",
            "is not a date-time with its offset",
        ),
        (
            LOT_1,
            "from=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
            "from is after until",
        ),
        (B_LOCATION, "", "spanning at most 92 UTC days"),
        (
            B_LOCATION,
            "from=2026-01-01T00:00:00Z&until=2026-04-03T00:00:00Z",
            "spanning at most 92 UTC days",
        ),
        (LOT_1, "format=xml", "is not json or csv"),
    ];
    for (id, query, says) in cases {
        let (status, _, body) = trace(&pipeline, id, query, Some(&regulator)).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 400, "{id} {query}: {body}");
        assert_eq!(
            body["type"], "epcisException:QueryParameterException",
            "{body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{says}: {body}"
        );
    }

    // A partner traces its own sites' events alone: the retailer's partner sees the shipment it
    // received and what it made, none of the brand's packing.
    let partner = token(&pipeline, registry::Role::Partner, &["rival-depot"], None).await;
    let own = traced(&pipeline, PRODUCT, "direction=backward", &partner).await;
    assert!(reaches(&own, &item(1)), "{own}");
    assert!(!reaches(&own, CASE_1) && !reaches(&own, LOT_1), "{own}");
    // What it was told rests on the retailer's events alone: the receiving, three unpackings,
    // the transformation and the inspection it read, and their hashes.
    assert_eq!(own["eventsRead"], 6, "{own}");
    assert!(
        own["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|event| event["leafIndex"].as_u64().unwrap() >= 9),
        "{own}"
    );
    // The brand's lot: the brand's events tie it to everything, and none is shown.
    let theirs = traced(&pipeline, LOT_1, "direction=forward", &partner).await;
    assert_eq!(ids(&theirs), [id(LOT_1)], "{theirs}");
    assert_eq!(theirs["edges"], json!([]), "{theirs}");
    assert_eq!(theirs["events"], json!([]), "{theirs}");
    // The same lot for a regulator reaches its items: the partner's answer is not empty for
    // want of events.
    let all = traced(&pipeline, LOT_1, "direction=forward", &regulator).await;
    assert!(reaches(&all, &item(1)), "{all}");
    pipeline.stop().await;
}

/// `POST /exports` of a trace with a regulator's token: status and body.
async fn export(pipeline: &Pipeline, token: &str, trace: Value) -> (u16, Vec<u8>) {
    let bearer = format!("Bearer {token}");
    let body = serde_json::to_vec(&json!({ "trace": trace })).unwrap();
    let (status, _, body) = pipeline
        .post("/exports", &[("Authorization", bearer.as_str())], &body)
        .await;
    (status, body)
}

/// The export with its trace made again from `events` (as a writer hiding some would), and its
/// spreadsheet from the events that trace reads.
fn retold(export: &ExportBundle, events: Vec<ProvenanceEvent>, parties: &Parties) -> ExportBundle {
    let mut retold = export.clone();
    retold.events = events;
    let traced = retold.trace.as_mut().unwrap();
    let noted = trace_events(&retold.events, &traced.request().unwrap(), parties).unwrap();
    let trace = noted.trace.unwrap();
    traced.graph = serde_json::to_value(&trace).unwrap();
    traced.csv = trace_csv(&trace);
    let read: Vec<&ProvenanceEvent> = retold
        .events
        .iter()
        .filter(|event| noted.read.contains(&event.inclusion.leaf_index()))
        .collect();
    retold.fsma204 = fsma204_csv(&read);
    retold
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regulator_exports_a_recall_trace_that_verifies_complete_offline() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline.warm_index().await;
    journey(&pipeline).await;
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    pipeline.wait_for_index(size).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    // The registry as the participants file gives it to a verifier.
    let admin = pipeline.db.connect().await.unwrap();
    let parties = registry::participants(&admin)
        .await
        .unwrap()
        .parties()
        .unwrap();
    let trusted = pipeline.trusted_keys().with_parties(parties.clone());

    let (status, body) = export(
        &pipeline,
        &regulator,
        json!({"id": LOT_1, "direction": "forward"}),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let exported: ExportBundle = serde_json::from_slice(&body).unwrap();
    assert!(exported.query.is_none());
    let traced_export = exported.trace.as_ref().unwrap();
    assert_eq!(
        (
            traced_export.start.as_str(),
            traced_export.direction.as_str()
        ),
        (LOT_1, "forward")
    );
    // The trace is the one `GET /trace` answers, less what that answer adds.
    let mut forward = traced(&pipeline, LOT_1, "direction=forward", &regulator).await;
    for added in ["checkpoint", "events", "omitted"] {
        forward.as_object_mut().unwrap().remove(added);
    }
    assert_eq!(traced_export.graph, forward);
    assert!(traced_export.csv.starts_with("kind,id,depth,"));
    // Every event the trace rests on is carried.
    let carried: Vec<u64> = exported
        .events
        .iter()
        .map(|event| event.inclusion.leaf_index().get())
        .collect();
    for edge in forward["edges"].as_array().unwrap() {
        for leaf in edge["evidence"].as_array().unwrap() {
            assert!(carried.contains(&leaf.as_u64().unwrap()), "{leaf}: {edge}");
        }
    }
    assert!(
        exported.fsma204.contains(",Shipping,"),
        "{}",
        exported.fsma204
    );

    let report = verify_export(&exported, &trusted);
    assert_ne!(report.verdict(), Verdict::Invalid, "{report:#?}");
    for name in [
        CheckName::Checkpoint,
        CheckName::EventList,
        CheckName::OneCheckpoint,
        CheckName::Trace,
        CheckName::Complete,
        CheckName::Spreadsheet,
    ] {
        assert_eq!(
            report.export_checks().outcome(name),
            Some(&Outcome::Passed),
            "{name}: {report:#?}"
        );
    }
    assert_eq!(report.complete_through(), Some(size));
    assert_eq!(
        report.matching() as u64,
        forward["eventsRead"].as_u64().unwrap()
    );

    // Without the registry the trace cannot be judged: incomplete, and why.
    let unjudged = verify_export(
        &exported,
        &ledger::bundle::TrustedKeys::new(pipeline.trusted_log()),
    );
    assert_eq!(unjudged.verdict(), Verdict::Incomplete, "{unjudged:#?}");
    assert_eq!(
        unjudged.export_checks().outcome(CheckName::Trace),
        Some(&Outcome::Skipped(TRACE_UNJUDGED.to_owned()))
    );

    // Any event left out, the trace and spreadsheet made again without it as an operator
    // hiding it would: the index proofs name the missing entry.
    for position in 0..exported.events.len() {
        let mut events = exported.events.clone();
        let leaf = events.remove(position).inclusion.leaf_index();
        let report = verify_export(&retold(&exported, events, &parties), &trusted);
        assert_eq!(report.verdict(), Verdict::Invalid, "{leaf}");
        match report.export_checks().outcome(CheckName::Complete) {
            Some(Outcome::Failed(why)) => assert!(
                why.starts_with(&format!("the index lists entry {leaf} under ")),
                "{why}"
            ),
            other => panic!("leaf {leaf}: {other:?}"),
        }
    }
    // The transformation left out with the trace as it was: the trace no longer follows from
    // the events.
    let made = edge(&forward, "transformedInto", &item(1), PRODUCT)["evidence"][0]
        .as_u64()
        .unwrap();
    let mut trimmed = exported.clone();
    trimmed
        .events
        .retain(|event| event.inclusion.leaf_index().get() != made);
    assert_eq!(trimmed.events.len() + 1, exported.events.len());
    let report = verify_export(&trimmed, &trusted);
    match report.export_checks().outcome(CheckName::Trace) {
        Some(Outcome::Failed(why)) => {
            assert!(
                why.starts_with("the export's trace is not the one its events give"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A node taken out of the graph, a line of the flat list changed.
    let mut shortened = exported.clone();
    let graph = &mut shortened.trace.as_mut().unwrap().graph;
    graph["nodes"].as_array_mut().unwrap().pop();
    let report = verify_export(&shortened, &trusted);
    match report.export_checks().outcome(CheckName::Trace) {
        Some(Outcome::Failed(why)) => assert!(why.contains("nodes "), "{why}"),
        other => panic!("{other:?}"),
    }
    let mut listed = exported.clone();
    let csv = &mut listed.trace.as_mut().unwrap().csv;
    *csv = csv.replacen("lot,", "item,", 1);
    let report = verify_export(&listed, &trusted);
    match report.export_checks().outcome(CheckName::Trace) {
        Some(Outcome::Failed(why)) => assert!(why.contains("line 2 differs"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A query beside the trace: which one it answers is not said.
    let mut both = exported.clone();
    both.query = Some(vec![("MATCH_anyEPC".to_owned(), item(1))]);
    let report = verify_export(&both, &trusted);
    assert!(
        matches!(
            report.export_checks().outcome(CheckName::Query),
            Some(Outcome::Failed(why)) if why.contains("both a query and a trace")
        ),
        "{report:#?}"
    );

    // From the retailer's place over a day: complete through its days' keys.
    let (status, body) = export(
        &pipeline,
        &regulator,
        json!({"id": B_LOCATION, "direction": "forward", "from": at(0), "until": at(60)}),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let place: ExportBundle = serde_json::from_slice(&body).unwrap();
    let report = verify_export(&place, &trusted);
    assert_eq!(
        report.export_checks().outcome(CheckName::Complete),
        Some(&Outcome::Passed),
        "{report:#?}"
    );
    pipeline.stop().await;
}

/// `POST /recalls` with `token` and `body`: status and JSON body.
async fn post_recall(pipeline: &Pipeline, token: Option<&str>, body: &Value) -> (u16, Value) {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|value| ("Authorization", value.as_str()))
        .collect();
    let (status, _, bytes) = pipeline
        .post("/recalls", &headers, &serde_json::to_vec(body).unwrap())
        .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The scan of the brand's item `serial` (`item(serial)`).
async fn scan(pipeline: &Pipeline, serial: u32) -> Value {
    let (status, answer) = pipeline
        .get(&format!("/01/80614141123458/21/9{serial}"))
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The brand recalls lot R1 from the journey above: every item of the lot, and the brand's cases,
/// pallet and shipment they travelled in, are named in recall events the brand's token captured
/// (the retailer's product made of two of them is counted, never named); each item's scan says
/// it first, an item of the other lot's does not; a retry records nothing twice; a lifting ends
/// it. The retailer may not recall the brand's lot, and bad requests are refused naming why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brand_recalls_a_lot_and_every_item_it_reached_says_so_first() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline.warm_index().await;
    let rival = journey(&pipeline).await;
    let admin = pipeline.db.connect().await.unwrap();
    let brand = registry::create_token(&admin, &ledger::SiteId::parse(SITE).unwrap(), "brand")
        .await
        .unwrap()
        .expose();
    // The lot, and one of its items named as well: the retailer's product both reach is
    // counted once.
    let recall = json!({"scope": [LOT_1, item(1)], "location": LOCATION, "recalledAt": at(20),
        "reason": "possible listeria"});

    // Who may not: nobody without a site token, an unknown token, the retailer (not the brand).
    let (status, problem) = post_recall(&pipeline, None, &recall).await;
    assert_eq!(status, 401, "{problem}");
    let forged = format!("tt_{}_{}", "0".repeat(16), "1".repeat(64));
    let (status, _) = post_recall(&pipeline, Some(&forged), &recall).await;
    assert_eq!(status, 401);
    let (status, problem) = post_recall(&pipeline, Some(&rival), &recall).await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("only its brand may recall it"),
        "{problem}"
    );
    // Bad requests: a place, an unknown member, a time without its offset, a location not the
    // brand's (ingest's own refusal, as it gave it), a body too long.
    for (body, status) in [
        (
            json!({"scope": [LOCATION], "location": LOCATION, "recalledAt": at(20)}),
            400,
        ),
        (
            json!({"scope": [LOT_1], "location": LOCATION, "recalledAt": at(20), "x": 1}),
            400,
        ),
        (
            json!({"scope": [LOT_1], "location": LOCATION, "recalledAt": "2026-01-01T00:00:00"}),
            400,
        ),
        (
            json!({"scope": [LOT_1], "location": B_LOCATION, "recalledAt": at(20)}),
            403,
        ),
        (
            json!({"scope": [LOT_1], "location": LOCATION, "recalledAt": at(20),
            "reason": "x".repeat(20_000)}),
            400,
        ),
    ] {
        let (got, problem) = post_recall(&pipeline, Some(&brand), &body).await;
        assert_eq!(got, status, "{body}: {problem}");
    }
    let before = pipeline.trace_api().checkpoint_size().await.unwrap();
    for serial in [1, 3, 5] {
        assert_eq!(scan(&pipeline, serial).await["recalled"], false);
    }

    // The brand recalls the lot.
    let (status, answer) = post_recall(&pipeline, Some(&brand), &recall).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["recall"], "recalled");
    assert_eq!(answer["reportedBy"], SITE);
    // Four items, two cases, the pallet and the shipment; the retailer's product is not named.
    assert_eq!(answer["epcs"], 8, "{answer}");
    assert_eq!(answer["othersReached"], 1, "{answer}");
    assert_eq!(answer["lots"], json!([id(LOT_1)]));
    let receipts = answer["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 1, "{answer}");
    let entry = receipts[0]["leafIndex"].clone();
    pipeline
        .wait_for_checkpoint(entry.as_u64().unwrap() + 1)
        .await;
    for serial in 1..=4 {
        let scanned = scan(&pipeline, serial).await;
        assert_eq!(scanned["recalled"], true, "item {serial}: {scanned}");
        let first = &scanned["reasons"][0];
        assert_eq!(first["code"], "recalled");
        assert_eq!(first["evidence"], json!([entry]), "{scanned}");
        assert!(
            first["detail"]
                .as_str()
                .unwrap()
                .ends_with(": possible listeria"),
            "{first}"
        );
    }
    assert_eq!(scan(&pipeline, 5).await["recalled"], false);

    // A retry records nothing twice.
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    let (status, again) = post_recall(&pipeline, Some(&brand), &recall).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["receipts"][0]["duplicate"], true, "{again}");
    assert_eq!(again["receipts"][0]["leafIndex"], entry);
    assert_eq!(pipeline.trace_api().checkpoint_size().await.unwrap(), size);
    assert!(size > before);

    // The brand lifts it.
    let lift = json!({"scope": [LOT_1], "location": LOCATION, "recalledAt": at(30),
        "lift": true});
    let (status, lifted) = post_recall(&pipeline, Some(&brand), &lift).await;
    assert_eq!(status, 202, "{lifted}");
    assert_eq!(lifted["recall"], "lifted");
    pipeline
        .wait_for_checkpoint(lifted["receipts"][0]["leafIndex"].as_u64().unwrap() + 1)
        .await;
    let scanned = scan(&pipeline, 3).await;
    assert_eq!(scanned["recalled"], false, "{scanned}");
    assert!(
        scanned["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|reason| reason["code"] == "recall_lifted"),
        "{scanned}"
    );

    // A regulator recalls the lot too: its recall holds for every item it reaches, the
    // retailer's product made of the lot among them.
    let mut admin = pipeline.db.connect().await.unwrap();
    let authority = ledger::OrganisationId::parse("authority").unwrap();
    registry::add_organisation(&mut admin, &authority, &[])
        .await
        .unwrap();
    registry::set_regulator(&mut admin, &authority, true)
        .await
        .unwrap();
    let office = ledger::SiteId::parse("authority-office").unwrap();
    registry::add_site(&admin, &office, "", Some(&authority))
        .await
        .unwrap();
    const OFFICE: &str = "urn:epc:id:sgln:0999999.00001.0";
    registry::add_site_locations(
        &mut admin,
        &office,
        &[registry::location::SiteLocation::parse(OFFICE).unwrap()],
    )
    .await
    .unwrap();
    let regulator = registry::create_token(&admin, &office, "authority")
        .await
        .unwrap()
        .expose();
    let by_regulator = json!({"scope": [LOT_1], "location": OFFICE, "recalledAt": at(40),
        "reason": "ordered by the food safety authority"});
    // The registry is read again once its generation changed (within the cache's recheck).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let answer = loop {
        let (status, answer) = post_recall(&pipeline, Some(&regulator), &by_regulator).await;
        if status == 202 || std::time::Instant::now() > deadline {
            assert_eq!(status, 202, "{answer}");
            break answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(answer["epcs"], 9, "{answer}");
    assert_eq!(answer["othersReached"], 0, "{answer}");
    pipeline
        .wait_for_checkpoint(answer["receipts"][0]["leafIndex"].as_u64().unwrap() + 1)
        .await;
    let (status, product) = pipeline.get("/01/50712345123454/21/900").await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(product["recalled"], true, "{product}");
    assert!(
        product["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("authority recalled the item"),
        "{product}"
    );
    assert_eq!(scan(&pipeline, 3).await["recalled"], true);
    pipeline.stop().await;
}
