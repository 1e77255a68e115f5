//! `POST /exports`: a regulator's verifiable export of a query's answer, checked offline with
//! `ledger::bundle::verify_export` as `tagtrail verify` does: complete for an item and for a place
//! and day, an event left out caught, a query the index cannot cover said so; and each bad
//! request refused with the binding's exception.

use serde_json::{Value, json};

use ledger::bundle::{
    CheckName, EXPORT_UNCOVERED, ExportBundle, ExportReport, Outcome, Verdict, verify_export,
};

use ledger::note::{KeyName, NoteSignerKey, NoteVerifiers};

use crate::common::{LOCATION, Pipeline, aggregation, at, header, object};
use crate::query::{CASE, ITEM_1, ask, journey, token};

/// `POST /exports` of `query` with `token`: status, headers and body.
async fn export(
    pipeline: &Pipeline,
    token: Option<&str>,
    body: &Value,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let authorization = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|value| ("authorization", value.as_str()))
        .collect();
    pipeline
        .post("/exports", &headers, &serde_json::to_vec(body).unwrap())
        .await
}

/// The journey, captured once the log's checkpoints commit to its index (`warm_index`: other
/// items' inspections at the place come first), and indexed. Returns how many inspections there
/// were.
async fn captured(pipeline: &Pipeline) -> usize {
    let before = pipeline.warm_index().await;
    pipeline.capture(journey()).await;
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    pipeline.wait_for_index(size).await;
    before as usize
}

fn outcome(report: &ExportReport, name: CheckName) -> Outcome {
    report.export_checks().outcome(name).unwrap().clone()
}

/// The problem's detail of a refused request, after checking its status and exception.
fn refused(answer: &(u16, Vec<(String, String)>, Vec<u8>), status: u16, exception: &str) -> String {
    let body: Value = serde_json::from_slice(&answer.2).unwrap();
    assert_eq!(answer.0, status, "{body}");
    assert_eq!(
        body["type"],
        format!("epcisException:{exception}"),
        "{body}"
    );
    body["detail"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regulator_exports_a_query_s_answer_that_verifies_complete_offline() {
    // The service signs each export's manifest with its export key.
    let signer = NoteSignerKey::from_seed(KeyName::parse("trace.test/exports").unwrap(), &[13; 32]);
    let key_file =
        std::env::temp_dir().join(format!("trace-api-export-key-{}", std::process::id()));
    std::fs::write(&key_file, signer.to_private_text().as_str()).unwrap();
    let configured = key_file.clone();
    let pipeline =
        Pipeline::start(move |config| config.exports.signing_key = Some(configured)).await;
    std::fs::remove_file(&key_file).unwrap();
    let before = captured(&pipeline).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let exporters = NoteVerifiers::new(vec![signer.verifier_key()]).unwrap();
    let trusted = pipeline.trusted_keys().with_exporters(exporters);

    // Every event naming the item: its commissioning, packing, receiving (written as a Digital
    // Link) and the receiving's error declaration.
    let answer = export(
        &pipeline,
        Some(&regulator),
        &json!({"query": {"MATCH_anyEPC": ITEM_1}}),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", String::from_utf8_lossy(&answer.2));
    let disposition = header(&answer.1, "content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"tagtrail-export-"),
        "{disposition}"
    );
    let item: ExportBundle = serde_json::from_slice(&answer.2).unwrap();
    assert_eq!(
        item.query,
        Some(vec![("MATCH_anyEPC".to_owned(), ITEM_1.to_owned())])
    );
    assert!(item.trace.is_none());
    assert_eq!(item.events.len(), 4);
    let report = verify_export(&item, &trusted);
    assert_ne!(report.verdict(), Verdict::Invalid, "{report:#?}");
    assert_eq!(report.matching(), 4);
    for name in [
        CheckName::Checkpoint,
        CheckName::EventList,
        CheckName::OneCheckpoint,
        CheckName::Query,
        CheckName::Complete,
        CheckName::Spreadsheet,
        CheckName::Manifest,
    ] {
        assert_eq!(
            outcome(&report, name),
            Outcome::Passed,
            "{name}: {report:#?}"
        );
    }
    assert!(report.complete_through().unwrap() >= 6);
    let made_by = report.made_by().unwrap();
    assert!(
        made_by.starts_with(&format!("{}+{} at ", signer.name(), signer.id())),
        "{made_by}"
    );
    // The spreadsheet: the commissioning's lot quantity and its two items, as lines of their own.
    assert!(
        item.fsma204
            .contains("\r\nL1,80614141123458,12,KGM,,Initial Packing,"),
        "{}",
        item.fsma204
    );
    assert!(
        item.fsma204
            .contains("\r\n,80614141123458,2,EA,,Initial Packing,")
    );
    assert!(
        item.fsma204
            .contains(",po,urn:epcglobal:cbv:bt:0614141073467:PO-7,")
    );

    // Any event left out, as an operator hiding one would: the export fails, naming the entry.
    for position in 0..item.events.len() {
        let mut trimmed = item.clone();
        let leaf = trimmed.events.remove(position).inclusion.leaf_index();
        let report = verify_export(&trimmed, &trusted);
        assert_eq!(report.verdict(), Verdict::Invalid);
        match outcome(&report, CheckName::Complete) {
            Outcome::Failed(why) => assert!(
                why.starts_with(&format!("the index lists entry {leaf} under ")),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
    }

    // A place on a day: every event there (the other item's inspection too), complete.
    let day = &at(0)[..10];
    let answer = export(
        &pipeline,
        Some(&regulator),
        &json!({"query": {
            "EQ_readPoint": LOCATION,
            "GE_eventTime": format!("{day}T00:00:00Z"),
            "LT_eventTime": format!("{day}T23:59:59.999Z"),
        }}),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", String::from_utf8_lossy(&answer.2));
    let place: ExportBundle = serde_json::from_slice(&answer.2).unwrap();
    let report = verify_export(&place, &trusted);
    assert_eq!(
        outcome(&report, CheckName::Complete),
        Outcome::Passed,
        "{report:#?}"
    );
    assert_eq!(report.matching(), 6 + before);

    // A query no key covers: its answer, said not to be shown complete.
    let answer = export(
        &pipeline,
        Some(&regulator),
        &json!({"query": {"EQ_bizStep": "shipping"}}),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", String::from_utf8_lossy(&answer.2));
    let shipping: ExportBundle = serde_json::from_slice(&answer.2).unwrap();
    assert!(shipping.index.is_none());
    let report = verify_export(&shipping, &trusted);
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:#?}");
    assert_eq!(report.matching(), 1);
    assert_eq!(
        outcome(&report, CheckName::Complete),
        Outcome::Skipped(EXPORT_UNCOVERED.to_owned())
    );
    assert!(shipping.events[0].event.contains(CASE));

    // Nothing matches: an export of no event, shown complete all the same.
    let answer = export(
        &pipeline,
        Some(&regulator),
        &json!({"query": {"MATCH_epc": "urn:epc:id:sgtin:0614141.812345.999"}}),
    )
    .await;
    assert_eq!(answer.0, 200);
    let none: ExportBundle = serde_json::from_slice(&answer.2).unwrap();
    assert!(none.events.is_empty());
    let report = verify_export(&none, &trusted);
    assert_eq!(
        outcome(&report, CheckName::Complete),
        Outcome::Passed,
        "{report:#?}"
    );
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_for_regulators_and_refuse_each_bad_request() {
    let pipeline = Pipeline::start(|config| config.limits.max_history_events = 3).await;
    captured(&pipeline).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let partner = token(&pipeline, registry::Role::Partner, &["test-site"], None).await;
    let item = json!({"query": {"MATCH_anyEPC": ITEM_1}});

    let detail = refused(
        &export(&pipeline, None, &item).await,
        401,
        "SecurityException",
    );
    assert!(detail.contains("needs an access token"), "{detail}");
    let detail = refused(
        &export(&pipeline, Some(&partner), &item).await,
        403,
        "SecurityException",
    );
    assert!(detail.starts_with("exports are for regulators"), "{detail}");
    // More than the service carries (3 here): narrow the query.
    let detail = refused(
        &export(&pipeline, Some(&regulator), &item).await,
        413,
        "QueryTooLargeException",
    );
    assert!(detail.contains("narrow the query"), "{detail}");
    // A trace reading more than that: refused too, never an export short of some events.
    let detail = refused(
        &export(
            &pipeline,
            Some(&regulator),
            &json!({"trace": {"id": ITEM_1, "direction": "both"}}),
        )
        .await,
        413,
        "QueryTooLargeException",
    );
    assert!(detail.contains("the trace"), "{detail}");
    // Each refusal tells something of what matched: both are on the access log, answering none.
    let recorded: Vec<(String, u64)> = pipeline
        .access_entries()
        .await
        .into_iter()
        .map(|entry| (format!("{} {}", entry.method, entry.target), entry.answered))
        .collect();
    assert_eq!(
        recorded,
        [
            ("POST /exports".to_owned(), 0),
            ("POST /exports".to_owned(), 0)
        ]
    );

    for (body, needle) in [
        (json!([1]), "is not a JSON object"),
        (
            json!({"query": {"MATCH_anyEPC": ITEM_1}, "x": 1}),
            "has member \"x\"",
        ),
        (json!({}), "has neither \"query\""),
        (json!({"query": 1}), "\"query\" is not an object"),
        (
            json!({"query": {"MATCH_anyEPC": {"epc": ITEM_1}}}),
            "parameter MATCH_anyEPC is not a string, a number",
        ),
        (
            json!({"query": {"MATCH_anyEPC": [ITEM_1, 7]}}),
            "a list holds strings only",
        ),
        (json!({"query": {"perPage": "5"}}), "give no perPage"),
        (
            json!({"query": {"orderBy": "eventTime"}}),
            "give no orderBy",
        ),
        (
            json!({"query": {"GE_recordTime": "2026-01-01T00:00:00Z"}}),
            "use GE_eventTime and LT_eventTime",
        ),
        (json!({"query": {"MATCH_anyEPC": "not a uri"}}), "not a URI"),
        (json!({"query": {"EQ_nothing": "x"}}), "EQ_nothing"),
        (
            json!({"query": {"MATCH_anyEPC": ITEM_1}, "trace": {"id": ITEM_1}}),
            "has both \"query\" and \"trace\"",
        ),
        (json!({"trace": "x"}), "\"trace\" is not an object"),
        (json!({"trace": {}}), "the trace has no id"),
        (
            json!({"trace": {"id": ITEM_1, "x": "1"}}),
            "the trace has member \"x\"",
        ),
        (
            json!({"trace": {"id": 5}}),
            "the trace's id is not a string",
        ),
        (
            json!({"trace": {"id": ITEM_1, "direction": "sideways"}}),
            "is not forward, backward or both",
        ),
        (
            json!({"trace": {"id": ITEM_1, "from": "yesterday"}}),
            "is not a date-time",
        ),
        (
            json!({"trace": {"id": LOCATION}}),
            "give both, spanning at most 92 UTC days",
        ),
    ] {
        let detail = refused(
            &export(&pipeline, Some(&regulator), &body).await,
            400,
            "QueryParameterException",
        );
        assert!(detail.contains(needle), "{body}: {detail}");
    }
    let (status, headers, _) = pipeline
        .post(
            "/exports",
            &[("authorization", &format!("Bearer {regulator}"))],
            b"{",
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .contains("problem+json")
    );
    // A huge body: an anonymous client's is not read (401), a regulator's no further than the
    // bound (400); each a problem.
    let huge = vec![b' '; 256 * 1024];
    let detail = refused(
        &pipeline.post("/exports", &[], &huge).await,
        401,
        "SecurityException",
    );
    assert!(detail.contains("needs an access token"), "{detail}");
    let detail = refused(
        &pipeline
            .post(
                "/exports",
                &[("authorization", &format!("Bearer {regulator}"))],
                &huge,
            )
            .await,
        400,
        "QueryParameterException",
    );
    assert_eq!(detail, "the request body is longer than 16384 bytes");
    // Only POST.
    let (status, headers, _) = pipeline.request_raw("GET", "/exports").await;
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "allow"), Some("POST"));
    pipeline.stop().await;
}

/// A trace that reaches more index keys than an export proves (a pallet of 1,100 items: a key
/// each) is refused, not exported with part of its completeness unproven; the trace itself is
/// answered whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_export_reaching_more_keys_than_it_proves_is_refused() {
    let pipeline = Pipeline::start(|_| {}).await;
    // The pipeline's site is the brand: it owns the items' company prefix.
    crate::custody::register_b(&pipeline).await;
    pipeline.warm_index().await;
    let items: Vec<String> = (0..1_100)
        .map(|n| format!("urn:epc:id:sgtin:0614141.812345.9{n}"))
        .collect();
    let items: Vec<&str> = items.iter().map(String::as_str).collect();
    let pallet = "urn:epc:id:sscc:0614141.0000000777";
    pipeline
        .capture(vec![
            object(0, "ADD", &items, "commissioning"),
            aggregation(1, "ADD", pallet, &items),
        ])
        .await;
    let size = pipeline.trace_api().checkpoint_size().await.unwrap();
    pipeline.wait_for_index(size).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;

    let detail = refused(
        &export(
            &pipeline,
            Some(&regulator),
            &json!({"trace": {"id": pallet, "direction": "both"}}),
        )
        .await,
        413,
        "QueryTooLargeException",
    );
    assert!(
        detail.contains("index keys, more than an export proves (1024)"),
        "{detail}"
    );
    let (status, _, traced) = ask(
        &pipeline,
        &format!("/trace/{pallet}?direction=both"),
        &regulator,
    )
    .await;
    assert_eq!(status, 200, "{traced}");
    let items = traced["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|node| node["kind"] == "item")
        .count();
    assert_eq!(items, 1_100, "every item of the pallet");
    pipeline.stop().await;
}
