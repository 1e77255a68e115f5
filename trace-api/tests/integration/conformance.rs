//! Conformance of the service to its own OpenAPI document (`trace-api/openapi.json`, as served at
//! `/openapi.json`): schemathesis (from PyPI, in the virtual environment `scripts/services`
//! creates) sends every operation of the document generated requests, and checks that no answer
//! is a server error and that every answer's status code, content type and body are the ones the
//! document gives for it.
//!
//! Random identifiers almost never name an item or event the ledger holds, so alone they would
//! only meet the `400` and `404` answers. The test captures an item's journey through a case
//! first, and the hooks (`tests/conformance/hooks.py`) give schemathesis the identifiers of that
//! data to use besides its own: the item as an EPC URI, a Digital Link (and its GTIN and serial,
//! with a GTIN whose check digit is wrong) and its tag's hex, the case (and its SSCC),
//! each event hash as hex and as an `ni:` URI, the tiles of the log, a history cursor, a sealed
//! value's commitment with one of its recipients' keys, and the organisation that registered
//! that key; the service's request metrics show afterwards that every route reading the ledger
//! (or the registry) answered some of them `200`.
//!
//! The rate limits are raised out of the way: throttled, most requests would be answered the
//! (documented) `429` before reaching a route, and test nothing else. The limiter and its `429`
//! are tested in `service.rs`.

use epcis::EventHash;
use epcis::digital_link::{DigitalLink, compress};
use ledger::sealed::{self, KEYS_MEMBER, RecipientSecret, SealedField, Sealer};
use serde_json::json;
use service_kit::testing::{Schemathesis, workspace_path};

use crate::common::{Pipeline, SITE, aggregation, object, segment};

const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";
/// `ITEM` as a GS1 Digital Link.
const ITEM_LINK: &str = "https://id.gs1.org/01/80614141123458/21/6789";
/// The SGTIN-96 encoding of `ITEM` (filter 3), as a reader reads the tag's EPC bank.
const ITEM_HEX: &str = "3074257BF7194E4000001A85";
const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
/// `CASE`'s SSCC, as its Digital Link gives it.
const CASE_SSCC: &str = "106141412345678908";
/// `ITEM`'s serial compressed (`21`, then `6789` as digits): `/01/{gtin}/IQRqF` is `ITEM_LINK`.
const SERIAL_COMPRESSED: &str = "IQRqF";
/// An item of no event.
const STRANGER: &str = "urn:epc:id:sgtin:0614141.812345.1";
/// The operations schemathesis tests: every one of the document but `GET /openapi.json`, which
/// it leaves out as the document it loaded (`service.rs` tests that route).
const OPERATIONS: usize = 69;
/// What is checked of every answer. Not `positive_data_acceptance`: a schema can say that an item
/// is a string of at most 512 characters, not which strings are EPC URIs or Digital Links, so most
/// schema-valid identifiers are rightly refused (`400`).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance,\
                      negative_data_rejection,unsupported_method,allow_header_conformance";

/// A regulator's access token, for the query operations.
async fn regulator_token(pipeline: &Pipeline) -> String {
    let admin = pipeline.db.connect().await.unwrap();
    registry::create_access_token(&admin, registry::Role::Regulator, &[], "conformance", None)
        .await
        .unwrap()
        .expose()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_conforms_to_its_openapi_document() {
    let pipeline = Pipeline::start(|config| {
        config.limits.requests_per_second = 1_000_000;
        config.limits.burst = 1_000_000;
    })
    .await;
    let hashes = pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            aggregation(1, "ADD", CASE, &[ITEM]),
            object(2, "OBSERVE", &[CASE], "shipping"),
            aggregation(3, "DELETE", CASE, &[ITEM]),
            object(4, "OBSERVE", &[ITEM], "retail_selling"),
        ])
        .await;

    // An event with a value sealed for a recipient.
    let mut seed = 0x5eed_u64;
    let mut random = |bytes: &mut [u8]| {
        for byte in bytes {
            // xorshift64: test randomness, reproducible.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *byte = seed.to_le_bytes()[0];
        }
    };
    let recipient = RecipientSecret::generate(&mut random);
    let mut sealer = Sealer::new(&[recipient.public_key()], &mut random).unwrap();
    let mut event = object(5, "OBSERVE", &[ITEM], "loading");
    event["example:delivery"] = json!({"example:address": "1 Rue de la Paix"});
    sealed::seal_event_fields(
        event.as_object_mut().unwrap(),
        &["/example:delivery"],
        Some(&mut sealer),
        &mut random,
    )
    .unwrap();
    // The recipient is one of the site's organisation's registered keys (a site with no
    // organisation of its own is one).
    let admin = pipeline.db.connect().await.unwrap();
    registry::add_recipient_key(
        &admin,
        &ledger::OrganisationId::parse(SITE).unwrap(),
        &recipient.public_key(),
    )
    .await
    .unwrap();
    let commitment = SealedField::from_json(&event["example:delivery"])
        .unwrap()
        .unwrap()
        .commitment()
        .to_hex();
    let mut document = json!({
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "https://example.com/epcis/",
             "sealed": "https://tagtrail.dev/ns/sealed#"}
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [event]},
    });
    document[KEYS_MEMBER] = json!([sealer.key_set().to_base64()]);
    let mut hashes = hashes;
    hashes.extend(pipeline.capture_document(document).await);

    let mut events = Vec::new();
    for ni in &hashes {
        events.push(EventHash::parse_ni(ni).unwrap().to_hex());
        events.push(ni.clone());
    }
    // An event hash the ledger does not hold.
    events.push("00".repeat(32));
    let (status, history) = pipeline
        .get(&format!("/items/{}/history?limit=2", segment(ITEM)))
        .await;
    assert_eq!(status, 200, "{history}");
    let size = &history["checkpoint"]["treeSize"];
    // The item's and the case's links compressed whole, and the item's serial alone (the rest
    // of a link whose GTIN stands uncompressed before it: `21` then `6789` as digits).
    let compressed = |link: &str| {
        let link = DigitalLink::parse(link).unwrap();
        let compressed = compress(&link).unwrap();
        compressed.rsplit('/').next().unwrap().to_owned()
    };
    let case_link = format!("https://id.gs1.org/00/{CASE_SSCC}");
    let values = json!({
        "id": [ITEM, ITEM_LINK, ITEM_HEX, CASE, STRANGER],
        "hash": events,
        "path": [
            format!("0/000.p/{size}"),
            format!("entries/000.p/{size}"),
            "0/000",
            "1/000.p/1",
        ],
        "cursor": [history["next"].clone()],
        "gtin": ["80614141123458", "80614141123457"],
        "serial": ["6789", "1"],
        "lot": ["L1"],
        "sscc": [CASE_SSCC],
        "compressed": [compressed(ITEM_LINK), compressed(&case_link), SERIAL_COMPRESSED],
        "linkType": ["linkset", "gs1:verificationService", "gs1:traceability", "gs1:pip"],
        "commitment": [commitment, "00".repeat(32)],
        "recipient": [recipient.public_key().to_hex(), "11".repeat(32)],
        "organisation": [SITE, "no-such-organisation"],
        "epc": [ITEM, CASE, ITEM_LINK],
        "bizStep": ["shipping", "commissioning", "receiving"],
        "readPoint": [crate::common::LOCATION],
        "MATCH_epc": [ITEM],
        "MATCH_anyEPC": [CASE],
        "EQ_bizStep": ["shipping"],
        "direction": ["forward", "backward", "both"],
    });

    // The query interface's operations need a credential: a regulator's, sent with every request
    // (the other routes take no notice of it).
    let regulator = regulator_token(&pipeline).await;
    let authorization = format!("Authorization: Bearer {regulator}");
    let conformance = workspace_path(&["trace-api", "tests", "conformance"]);
    let report = Schemathesis::run(
        &conformance.join("schemathesis.toml"),
        &format!("{}/openapi.json", pipeline.trace),
    )
    .unwrap()
    .args([
        "--url",
        &pipeline.trace,
        "--header",
        &authorization,
        "--checks",
        CHECKS,
        "--max-examples",
        "250",
        "--seed",
        "20261124",
        "--workers",
        "2",
    ])
    .hooks(&conformance.join("hooks.py"))
    .env("TAGTRAIL_CONFORMANCE_VALUES", values.to_string())
    .finish()
    .await
    .unwrap();
    assert!(report.passed, "schemathesis failed:\n{}", report.text);
    assert!(report.tested_every_operation(OPERATIONS), "{}", report.text);
    // The captured identifiers reached the routes: each that reads the ledger answered some.
    let (_, metrics) = pipeline.get_text("/metrics").await;
    for route in [
        "/items/{id}/history",
        "/items/{id}/bundle",
        "/events/{hash}/bundle",
        "/events/{hash}/proof",
        "/log/tile/{path:.+}",
        "/sealed/{commitment}/{recipient}",
        "/organisations/{organisation}/recipient-keys",
        "/01/{gtin}/21/{serial}",
        "/01/{gtin}/10/{lot}/21/{serial}",
        "/01/{gtin}/10/{lot}",
        "/01/{gtin}",
        "/00/{sscc}",
        "/{compressed:[A-Za-z0-9_-]+}",
        "/01/{gtin}/{compressed:[A-Za-z0-9_-]+}",
        "/events",
        "/epcs/{epc}/events",
        "/bizSteps/{bizStep}/events",
        "/trace/{id}",
    ] {
        let answered = format!(r#"trace_requests_total{{route="{route}",status="200"}} "#);
        assert!(
            metrics.contains(&answered),
            "no 200 from {route}:\n{metrics}"
        );
    }
    pipeline.stop().await;
}

/// The query operations of the official EPCIS 2.0 REST binding document that this service
/// implements (`GET`; the path templates as the document writes them).
const OFFICIAL_QUERY_PATHS: &str = r"^/(events|events/\{eventID\}|eventTypes/\{eventType\}/events|epcs/\{epc\}/events|bizSteps/\{bizStep\}/events|bizLocations/\{bizLocation\}/events|readPoints/\{readPoint\}/events|dispositions/\{disposition\}/events)$";
/// The eventID of the shipping event of the official document's run.
const EVENT_ID: &str = "urn:uuid:0b5d0a0e-1c1e-4c6b-9d5f-3a2f8e7d6c5b";
/// What is checked of the official document's operations: every check but the status code's,
/// because the document lists no `400` (`QueryParameterException`, which the standard demands
/// for a malformed query) and no `413` (`QueryTooLargeException`) for `GET /events`, and no
/// `429` or `503` anywhere; each of those is tested with its exception in `query.rs`.
const OFFICIAL_CHECKS: &str = "not_a_server_error,content_type_conformance,\
                               response_schema_conformance,response_headers_conformance,\
                               negative_data_rejection";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_operations_conform_to_the_official_openapi_document() {
    let pipeline = Pipeline::start(|config| {
        config.limits.requests_per_second = 1_000_000;
        config.limits.burst = 1_000_000;
    })
    .await;
    let mut shipping = object(2, "OBSERVE", &[CASE], "shipping");
    shipping["eventID"] = json!(EVENT_ID);
    pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            aggregation(1, "ADD", CASE, &[ITEM]),
            shipping,
        ])
        .await;
    let regulator = regulator_token(&pipeline).await;
    let values = json!({
        "epc": [ITEM, CASE, ITEM_LINK],
        "bizStep": ["shipping", "commissioning"],
        "readPoint": [crate::common::LOCATION],
        "MATCH_epc": [ITEM],
        "MATCH_anyEPC": [CASE],
        "EQ_bizStep": ["shipping"],
        "eventID": [EVENT_ID],
        "disposition": ["in_transit", "in_progress"],
        "eventType": ["ObjectEvent", "AggregationEvent"],
        "bizLocation": [crate::common::LOCATION],
    });
    // `GET`, then the binding's discovery (`OPTIONS`), of each of the 8 paths; `POST /events`
    // is the binding's capture of one event: ingest's (it answers `405` here).
    for method in ["^GET$", "^OPTIONS$"] {
        let report = official_run(
            &pipeline,
            &regulator,
            &values,
            &[
                "--include-path-regex",
                OFFICIAL_QUERY_PATHS,
                "--include-method-regex",
                method,
                // `/dispositions/{disposition}` is a URI-formatted path parameter whose values
                // the generator mostly throws away: let it.
                "--suppress-health-check",
                "filter_too_much",
            ],
            "40",
            "20261125",
        )
        .await;
        assert!(report.passed, "schemathesis failed:\n{}", report.text);
        assert!(report.tested_every_operation(8), "{}", report.text);
    }
    // The events were found: the query routes answered some requests with events.
    let (_, metrics) = pipeline.get_text("/metrics").await;
    for route in [
        "/events",
        "/epcs/{epc}/events",
        "/bizLocations/{bizLocation}/events",
    ] {
        let answered = format!(r#"trace_requests_total{{route="{route}",status="200"}} "#);
        assert!(
            metrics.contains(&answered),
            "no 200 from {route}:\n{metrics}"
        );
    }
    pipeline.stop().await;
}

/// The named-query and subscription operations of the official EPCIS 2.0 REST binding document
/// (`GET`, `POST` and `DELETE`; the path templates as the document writes them).
const OFFICIAL_NAMED_QUERY_PATHS: &str =
    r"^/queries(/\{queryName\}(/events|/subscriptions(/\{subscriptionID\})?)?)?$";

/// As [`the_query_operations_conform_to_the_official_openapi_document`], for the named queries
/// and their subscriptions: a regulator's named query and a subscription to it exist first, and
/// the hooks give their name and id besides what schemathesis generates. Subscriptions may go to
/// this host only (`allowed_hosts`), so that no generated `dest` elsewhere is looked up or called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_named_query_operations_conform_to_the_official_openapi_document() {
    let pipeline = Pipeline::start(|config| {
        config.limits.requests_per_second = 1_000_000;
        config.limits.burst = 1_000_000;
        config.subscriptions.allowed_hosts = vec!["127.0.0.1".to_owned()];
    })
    .await;
    pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            aggregation(1, "ADD", CASE, &[ITEM]),
            object(2, "OBSERVE", &[CASE], "shipping"),
        ])
        .await;
    let regulator = regulator_token(&pipeline).await;
    let bearer = format!("Bearer {regulator}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let definition = json!({"name": "shipments", "query": {"EQ_bizStep": ["shipping"]}});
    let (status, _, body) = pipeline
        .post("/queries", &headers, definition.to_string().as_bytes())
        .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    // Yearly: nothing is delivered while the run lasts.
    let subscription = json!({"dest": "http://127.0.0.1:9/hook", "schedule": {"month": "1"}});
    let (status, _, body) = pipeline
        .post(
            "/queries/shipments/subscriptions",
            &headers,
            subscription.to_string().as_bytes(),
        )
        .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let made: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let values = json!({
        "queryName": ["shipments"],
        "subscriptionID": [made["subscriptionID"]],
    });
    // Deleting the named query or the subscription early would leave the other operations
    // nothing to find: they run first, and the deletions after them.
    // The subscription is deleted before its query.
    let subscription = r"^/queries/\{queryName\}/subscriptions/\{subscriptionID\}$";
    let query = r"^/queries/\{queryName\}$";
    for (methods, paths, operations) in [
        ("(GET|POST)", OFFICIAL_NAMED_QUERY_PATHS, 7),
        ("OPTIONS", OFFICIAL_NAMED_QUERY_PATHS, 5),
        ("DELETE", subscription, 1),
        ("DELETE", query, 1),
    ] {
        let methods = format!("^{methods}$");
        let filters = [
            "--include-path-regex",
            paths,
            "--include-method-regex",
            &methods,
        ];
        let report = official_run(&pipeline, &regulator, &values, &filters, "25", "20261127").await;
        assert!(report.passed, "schemathesis failed:\n{}", report.text);
        assert!(report.tested_every_operation(operations), "{}", report.text);
    }
    // The name and id given were found: some requests were answered with them.
    let (_, metrics) = pipeline.get_text("/metrics").await;
    for (route, status) in [
        ("/queries", "200"),
        ("/queries/{name}", "200"),
        ("/queries/{name}/events", "200"),
        ("/queries/{name}/subscriptions", "200"),
        ("/queries/{name}/subscriptions/{id}", "200"),
        ("/queries/{name}/subscriptions/{id}", "204"),
    ] {
        let answered = format!(r#"trace_requests_total{{route="{route}",status="{status}"}} "#);
        assert!(
            metrics.contains(&answered),
            "no {status} from {route}:\n{metrics}"
        );
    }
    pipeline.stop().await;
}

/// One schemathesis run of the official binding document's operations that `filters` select
/// (schemathesis's own `--include-...`/`--exclude-...` arguments, and any more), with a
/// regulator's token and the hooks given `values`, `examples` a phase, from `seed`. Not the
/// examples phase: the document's own examples of `/dispositions/{disposition}` cannot be
/// generated (its path-level `GS1-Extensions` header is typed an object); nor the stateful one:
/// its links join capture to queries, and capture is ingest's. The captured identifiers reach
/// the other phases through the hooks.
async fn official_run(
    pipeline: &Pipeline,
    regulator: &str,
    values: &serde_json::Value,
    filters: &[&str],
    examples: &str,
    seed: &str,
) -> service_kit::testing::Report {
    let spec = workspace_path(&["testdata", "gs1-epcis", "rest-bindings", "openapi.json"]);
    let conformance = workspace_path(&["trace-api", "tests", "conformance"]);
    let authorization = format!("Authorization: Bearer {regulator}");
    let mut args = vec!["--url", &pipeline.trace];
    args.extend_from_slice(filters);
    args.extend([
        "--phases",
        "coverage,fuzzing",
        "--header",
        &authorization,
        "--checks",
        OFFICIAL_CHECKS,
        "--max-examples",
        examples,
        "--seed",
        seed,
        "--workers",
        "2",
    ]);
    Schemathesis::run(
        &conformance.join("schemathesis.toml"),
        &spec.to_string_lossy(),
    )
    .unwrap()
    .args(args)
    .hooks(&conformance.join("hooks.py"))
    .env("TAGTRAIL_CONFORMANCE_VALUES", values.to_string())
    .finish()
    .await
    .unwrap()
}
