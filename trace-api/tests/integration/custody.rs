//! Custody authority through the real services, as a hostile participant would test it: two
//! organisations, each with a site of its own; A owns the item's company prefix and reports with a
//! device, B with its site token from its own location. B's attempts to reshape A's item's history
//! are stored (they name B's own location) and shown, marked unauthorised, and change nothing; the
//! bundle of the history verifies, its story and marks recomputed by the verifier.

use std::sync::Arc;

use capture_client::{CaptureClient, Credential};
use ledger::bundle::{CheckName, Outcome, ProvenanceBundle, verify_provenance};
use ledger::history::Authority;
use serde_json::{Value, json};

use crate::common::{LOCATION, Pipeline, SITE, aggregation, object, reason, reason_codes, segment};

const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";
const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
const B_PALLET: &str = "urn:epc:id:sscc:0712345.0000000001";
pub(crate) const B_LOCATION: &str = "urn:epc:id:sgln:0712345.00001.0";
const B_ITEM: &str = "urn:epc:id:sgtin:0712345.000001.1";

/// Registers B (organisation `rival`, its site `rival-depot` at `B_LOCATION`) and gives A's
/// organisation (the pipeline's site, an organisation of its own) the item's company prefix.
/// Returns B's site token.
pub(crate) async fn register_b(pipeline: &Pipeline) -> String {
    let mut admin = pipeline.db.connect().await.unwrap();
    let a = ledger::OrganisationId::parse(SITE).unwrap();
    registry::add_organisation_prefixes(
        &mut admin,
        &a,
        &[epcis::epc::CompanyPrefix::parse("0614141").unwrap()],
    )
    .await
    .unwrap();
    let b = ledger::OrganisationId::parse("rival").unwrap();
    registry::add_organisation(
        &mut admin,
        &b,
        &[epcis::epc::CompanyPrefix::parse("0712345").unwrap()],
    )
    .await
    .unwrap();
    let site = ledger::SiteId::parse("rival-depot").unwrap();
    registry::add_site(&admin, &site, "", Some(&b))
        .await
        .unwrap();
    registry::add_site_locations(
        &mut admin,
        &site,
        &[registry::location::SiteLocation::parse(B_LOCATION).unwrap()],
    )
    .await
    .unwrap();
    registry::create_token(&admin, &site, "rival")
        .await
        .unwrap()
        .expose()
}

/// The registry as a verifier is given it: both organisations' sites, A's device, both
/// prefixes.
fn parties() -> ledger::history::Parties {
    let mut parties = ledger::history::Parties::new();
    for (site, organisation, location) in
        [(SITE, SITE, LOCATION), ("rival-depot", "rival", B_LOCATION)]
    {
        let site = ledger::SiteId::parse(site).unwrap();
        parties.add_site(
            site.clone(),
            ledger::OrganisationId::parse(organisation).unwrap(),
        );
        let location = ledger::location::SiteLocation::parse(location).unwrap();
        parties.add_location(site, &location);
    }
    parties.add_device(
        ledger::DeviceId::parse("reader-1").unwrap(),
        ledger::SiteId::parse(SITE).unwrap(),
    );
    parties.add_prefix(
        ledger::OrganisationId::parse(SITE).unwrap(),
        epcis::epc::CompanyPrefix::parse("0614141").unwrap(),
    );
    parties.add_prefix(
        ledger::OrganisationId::parse("rival").unwrap(),
        epcis::epc::CompanyPrefix::parse("0712345").unwrap(),
    );
    parties
}

/// Captures `events` with B's token; returns the status and body.
pub(crate) async fn capture_as_b(
    pipeline: &Pipeline,
    token: &str,
    events: Vec<Value>,
) -> (u16, Value) {
    let document = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z", "epcisBody": {"eventList": events},
    });
    let bytes = serde_json::to_vec(&document).unwrap();
    let client = Arc::new(CaptureClient::new(
        &pipeline.ingest,
        Credential::Token(token.to_owned()),
    ));
    let reply = tokio::task::spawn_blocking(move || client.capture(&bytes, None).unwrap())
        .await
        .unwrap();
    if let Some(largest) = reply.body["receipts"].as_array().and_then(|receipts| {
        receipts
            .iter()
            .filter_map(|r| r["leafIndex"].as_u64())
            .max()
    }) {
        pipeline.wait_for_checkpoint(largest + 1).await;
    }
    (reply.status, reply.body)
}

/// An eventTime `seconds` after minute 0 of the common events.
fn at_seconds(seconds: u64) -> String {
    let minute = crate::common::at(0);
    let base = epcis::document::Timestamp::parse(&minute)
        .unwrap()
        .unix_nanos()
        / 1_000_000;
    ledger::UnixMillis::from_millis(u64::try_from(base).unwrap() + seconds * 1000).to_rfc3339()
}

/// `event` with a `sourceList` naming the location `source`.
fn with_source(mut event: Value, source: &str) -> Value {
    event["sourceList"] = json!([{"type": "location", "source": source}]);
    event
}

/// B's event, from B's own location.
fn at_b(mut event: Value) -> Value {
    event["readPoint"] = json!({"id": B_LOCATION});
    event
}

/// The verifier's report of `bundle`, given the registry, whose story and authority checks passed.
fn story_and_authority_verified(
    pipeline: &Pipeline,
    bundle: &ProvenanceBundle,
) -> ledger::bundle::ProvenanceReport {
    let trusted = pipeline.trusted_keys().with_parties(parties());
    let report = verify_provenance(bundle, &trusted);
    for check in [CheckName::Story, CheckName::Authority] {
        assert_eq!(
            report.bundle_checks().outcome(check),
            Some(&Outcome::Passed),
            "{check}: {report:?}"
        );
    }
    report
}

/// A's item: commissioned, packed into its case, received and shipped, device-signed at A's
/// location; the event hashes.
async fn a_s_journey(pipeline: &Pipeline) -> Vec<String> {
    pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            aggregation(1, "ADD", CASE, &[ITEM]),
            object(3, "OBSERVE", &[CASE], "receiving"),
            object(5, "OBSERVE", &[CASE], "shipping"),
        ])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_cannot_reshape_an_item_s_history() {
    let pipeline = Pipeline::start(|_| {}).await;
    let token = register_b(&pipeline).await;
    // A: commissioned, packed, received, shipped (device-signed, A's location).
    let a = a_s_journey(&pipeline).await;

    // Without a location of its own, B's event is refused at capture.
    let mut unlocated = aggregation(2, "ADD", B_PALLET, &[ITEM]);
    unlocated.as_object_mut().unwrap().remove("readPoint");
    let (status, body) = capture_as_b(&pipeline, &token, vec![unlocated]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["violations"][0]["rule"], "location");
    // B commissioning A's EPC is refused at capture.
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![at_b(object(2, "ADD", &[ITEM], "commissioning"))],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["violations"][0]["rule"], "commissioning");

    // From its own location, backdated between A's events: B packs A's item into its pallet,
    // unpacks A's case, transforms its own item into A's, and destroys its pallet.
    let transformation = json!({"type": "TransformationEvent", "eventTime": at_seconds(150),
        "eventTimeZoneOffset": "+00:00", "inputEPCList": [B_ITEM],
        "outputEPCList": [ITEM], "readPoint": {"id": B_LOCATION}});
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![
            at_b(aggregation(2, "ADD", B_PALLET, &[ITEM])),
            at_b(aggregation(2, "DELETE", CASE, &[])),
            transformation,
            at_b(object(4, "OBSERVE", &[B_PALLET], "destroying")),
        ],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let b: Vec<String> = body["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["eventHash"].as_str().unwrap().to_owned())
        .collect();

    let (status, history) = pipeline
        .get(&format!("/items/{}/history", segment(ITEM)))
        .await;
    assert_eq!(status, 200, "{history}");
    let shown: Vec<(String, String, Value)> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["eventHash"].as_str().unwrap().to_owned(),
                e["authority"]["kind"].as_str().unwrap().to_owned(),
                e["reportedBy"]["organisation"].clone(),
            )
        })
        .collect();
    let hashes: Vec<&str> = shown.iter().map(|(hash, _, _)| hash.as_str()).collect();
    // A's receiving and shipping are still there (B's unpacking did not close the case: it is
    // shown, as an event of the case while the item was in it); B's ADD and transformation name
    // the item and are shown; B's pallet's destroying is not (the item was never in it).
    assert_eq!(
        hashes,
        [&a[0], &a[1], &b[0], &b[1], &b[2], &a[2], &a[3]].map(String::as_str)
    );
    for (hash, kind, organisation) in &shown {
        if b.contains(hash) {
            assert_eq!(kind, "unauthorised", "{history}");
            assert_eq!(organisation, &json!("rival"));
        } else {
            assert_eq!(kind, "authorised", "{history}");
            assert_eq!(organisation, &json!(SITE));
        }
    }
    let reasons: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["authority"]["reason"].as_str())
        .collect();
    assert!(
        reasons[0].contains("in the custody of test-site, not of rival"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains(&format!("{CASE} is in the custody of test-site")),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("company prefix of test-site, not of rival"),
        "{reasons:?}"
    );

    // The bundle carries the same marks, and the verifier recomputes story and authority.
    let (status, body) = pipeline
        .get(&format!("/items/{}/bundle", segment(ITEM)))
        .await;
    assert_eq!(status, 200, "{body}");
    let bundle: ProvenanceBundle = serde_json::from_value(body).unwrap();
    let report = story_and_authority_verified(&pipeline, &bundle);
    // B's events are unattested (a token): their device checks are left undone, nothing failed.
    assert!(report.events().iter().all(|event| {
        event
            .report
            .checks()
            .iter()
            .all(|check| !matches!(check.outcome, Outcome::Failed(_)))
    }));
    // Relabelling B's ADD as authorised fails the verifier's authority check.
    let mut forged = bundle.clone();
    let position = forged
        .events
        .iter()
        .position(|event| event.event_hash.to_ni_uri() == b[0])
        .unwrap();
    forged.events[position].authority = Some(ledger::history::Authority::Authorised);
    let trusted = pipeline.trusted_keys().with_parties(parties());
    let report = verify_provenance(&forged, &trusted);
    assert!(matches!(
        report.bundle_checks().outcome(CheckName::Authority),
        Some(Outcome::Failed(_))
    ));
    pipeline.stop().await;
}

/// A packs its item into its case by mistake and declares the packing erroneous: the history
/// shows both, the packing withdrawn by the declaration, and the case's later events are no longer
/// the item's. The bundle carries the withdrawal and the verifier recomputes it: a copy that hides
/// it, or claims one that did not happen, fails the story check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_s_error_declaration_withdraws_the_event_it_declares() {
    let pipeline = Pipeline::start(|_| {}).await;
    register_b(&pipeline).await;
    let a = a_s_journey(&pipeline).await;
    let (_, listed) = item_history(&pipeline).await;
    assert_eq!(listed, a);

    let mut declaration = aggregation(1, "ADD", CASE, &[ITEM]);
    declaration["errorDeclaration"] = json!({
        "declarationTime": crate::common::at(6),
        "reason": "incorrect_data",
    });
    let declared = pipeline.capture(vec![declaration]).await;
    // A declaration hashes as the event it declares.
    assert_eq!(declared, [a[1].clone()]);

    let (history, listed) = item_history(&pipeline).await;
    // Commissioning, the packing and its declaration; the case's receiving and shipping are gone.
    assert_eq!(
        listed,
        [&a[0], &a[1], &a[1]].map(String::as_str),
        "{history}"
    );
    let events = history["events"].as_array().unwrap();
    let packing = &events[1];
    let declaring = &events[2];
    assert!(
        declaring["event"].get("errorDeclaration").is_some(),
        "{history}"
    );
    assert_eq!(packing["withdrawnBy"], declaring["leafIndex"], "{history}");
    assert_eq!(declaring["withdrawnBy"], Value::Null, "{history}");
    for event in events {
        assert_eq!(event["authority"]["kind"], "authorised", "{history}");
    }
    // The bundle lists the history, then the case's events, which were gathered (what the
    // withdrawn packing led to is where the evidence against withdrawing it would be) and are
    // outside the history.
    let (bundle, hashes, _) = item_bundle(&pipeline).await;
    assert_eq!(hashes[..3], listed, "{hashes:?}");
    assert_eq!(hashes[3..], a[2..], "{hashes:?}");
    assert!(bundle.events[3..].iter().all(|event| event.why.is_empty()));
    story_and_authority_verified(&pipeline, &bundle);
    let trusted = pipeline.trusted_keys().with_parties(parties());
    let story_fails = |forged: &ProvenanceBundle| {
        let report = verify_provenance(forged, &trusted);
        match report.bundle_checks().outcome(CheckName::Story) {
            Some(Outcome::Failed(reason)) => reason.clone(),
            other => panic!("the story check gave {other:?}"),
        }
    };
    let mut hidden = bundle.clone();
    assert!(hidden.events[1].withdrawn_by.take().is_some());
    let reason = story_fails(&hidden);
    assert!(reason.contains("was not withdrawn"), "{reason}");
    let mut invented = bundle.clone();
    invented.events[0].withdrawn_by = bundle.events[1].withdrawn_by;
    let reason = story_fails(&invented);
    assert!(
        reason.contains("its events say it was not withdrawn"),
        "{reason}"
    );

    // A consumer's scan shows the packing withdrawn and the declaration as a correction.
    const SCAN: &str = "/01/80614141123458/21/6789";
    let (status, answer) = pipeline.get(SCAN).await;
    assert_eq!(status, 200, "{answer}");
    let journey = answer["journey"].as_array().unwrap();
    assert_eq!(journey.len(), 3, "{answer}");
    assert_eq!(
        journey[1]["withdrawnBy"], declaring["leafIndex"],
        "{answer}"
    );
    assert_eq!(journey[1]["correction"], false, "{answer}");
    assert_eq!(journey[2]["correction"], true, "{answer}");
    assert_eq!(journey[2]["withdrawnBy"], Value::Null, "{answer}");
    let (status, _, page) = pipeline
        .get_with(SCAN, &[("accept", "text/html"), ("accept-language", "en")])
        .await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("declared erroneous by whoever reported it: changed nothing"),
        "{page}"
    );
    assert!(page.contains("a correction of the record above"), "{page}");
    pipeline.stop().await;
}

/// A ships its case naming no receiver; B, passing by, reports receiving it and destroying it.
/// Custody passes by what the holder states: B's receipt and destruction are shown, refused, and
/// change nothing, and the bundle's story and marks verify. A then names the receiver the way
/// the docs say (declaring its shipping erroneous, shipping again to B): B's receipt, already
/// logged, takes the case, and B's later destruction stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipment_naming_no_receiver_hands_the_item_to_nobody() {
    let pipeline = Pipeline::start(|_| {}).await;
    let token = register_b(&pipeline).await;
    let a = a_s_journey(&pipeline).await;
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![
            at_b(object(6, "OBSERVE", &[CASE], "receiving")),
            at_b(object(7, "DELETE", &[CASE], "destroying")),
        ],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let b = receipt_hashes(&body);

    let (history, listed) = item_history(&pipeline).await;
    assert_eq!(
        listed,
        [&a[0], &a[1], &a[2], &a[3], &b[0], &b[1]].map(String::as_str),
        "{history}"
    );
    assert_eq!(
        authority_of(&history, &b[0]),
        json!({"kind": "unauthorised", "reason": format!(
            "{CASE} was shipped (entry 3) to no party the registry knows: only a party its \
             destinationList names may take it")}),
        "{history}"
    );
    assert_eq!(
        authority_of(&history, &b[1]),
        json!({"kind": "unauthorised", "reason": format!(
            "{CASE} is in the custody of {SITE}, not of rival")}),
        "{history}"
    );
    bundle_of_the_history_verifies(&pipeline, &listed).await;

    // A names its receiver: the open shipping withdrawn, a shipping to B's location.
    let mut declaration = object(5, "OBSERVE", &[CASE], "shipping");
    declaration["errorDeclaration"] = json!({
        "declarationTime": crate::common::at(8),
        "reason": "incorrect_data",
    });
    let mut addressed = object(5, "OBSERVE", &[CASE], "shipping");
    addressed["destinationList"] = json!([{"type": "location", "destination": B_LOCATION}]);
    let named = pipeline.capture(vec![declaration, addressed]).await;
    assert_eq!(named[0], a[3], "a declaration hashes as what it declares");

    let (history, listed) = item_history(&pipeline).await;
    assert_eq!(
        listed,
        [
            &a[0], &a[1], &a[2], &a[3], &named[0], &named[1], &b[0], &b[1]
        ]
        .map(String::as_str),
        "{history}"
    );
    let events = history["events"].as_array().unwrap();
    assert_eq!(
        events[3]["withdrawnBy"], events[4]["leafIndex"],
        "{history}"
    );
    for hash in [&named[1], &b[0], &b[1]] {
        assert_eq!(
            authority_of(&history, hash)["kind"],
            "authorised",
            "{history}"
        );
    }
    bundle_of_the_history_verifies(&pipeline, &listed).await;
    pipeline.stop().await;
}

/// A ships its case to its own location (a move between its sites, its destination named in
/// the shipping's `destinationList`); B reports receiving it twice before A does, dated before
/// and after A's own receipt, then unpacks it. B's receipts are shown, refused (the first for not
/// being the shipment's destination), and settle nothing: A's receipt, logged after B's, still
/// ends the shipment, and A keeps custody.
/// The bundle's story and marks verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipment_is_received_only_by_the_party_it_names() {
    let pipeline = Pipeline::start(|_| {}).await;
    let token = register_b(&pipeline).await;
    let mut shipping = object(5, "OBSERVE", &[CASE], "shipping");
    shipping["destinationList"] = json!([{"type": "location", "destination": LOCATION}]);
    let a = pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            aggregation(1, "ADD", CASE, &[ITEM]),
            shipping,
        ])
        .await;
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![
            // B says it received the case from A's location.
            with_source(at_b(object(6, "OBSERVE", &[CASE], "receiving")), LOCATION),
            at_b(object(8, "OBSERVE", &[CASE], "receiving")),
        ],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let b_receipts = receipt_hashes(&body);
    let a_receipt = pipeline
        .capture(vec![object(7, "OBSERVE", &[CASE], "receiving")])
        .await;
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![at_b(aggregation(9, "DELETE", CASE, &[]))],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let b_unpacking = receipt_hashes(&body)[0].clone();

    let (history, listed) = item_history(&pipeline).await;
    assert_eq!(
        listed,
        [
            &a[0],
            &a[1],
            &a[2],
            &b_receipts[0],
            &a_receipt[0],
            &b_receipts[1],
            &b_unpacking
        ]
        .map(String::as_str),
        "{history}"
    );
    let authority = |hash: &str| authority_of(&history, hash);
    assert_eq!(authority(&a_receipt[0])["kind"], "authorised", "{history}");
    // Sources and destinations are marked with whose they are: A's shipping names A's own
    // location; B's receipt names A's location as where it came from, not B's.
    let events = history["events"].as_array().unwrap();
    assert_eq!(
        events[2]["sourcesAndDestinations"],
        json!([{"list": "destinationList", "type": "location", "id": LOCATION,
            "organisation": SITE, "reporters": true}]),
        "{history}"
    );
    assert_eq!(
        events[3]["sourcesAndDestinations"],
        json!([{"list": "sourceList", "type": "location", "id": LOCATION,
            "organisation": SITE, "reporters": false}]),
        "{history}"
    );
    assert_eq!(events[0]["sourcesAndDestinations"], json!([]), "{history}");
    let shipped_at = history["events"][2]["leafIndex"].as_u64().unwrap();
    assert_eq!(
        authority(&b_receipts[0])["reason"],
        format!("{CASE} was shipped to {SITE} (entry {shipped_at}), not to rival"),
        "{history}"
    );
    assert_eq!(
        authority(&b_receipts[1])["reason"],
        format!("no hand-over: {CASE} is in the custody of {SITE}, who has not shipped it"),
        "{history}"
    );
    assert!(
        authority(&b_unpacking)["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("{CASE} is in the custody of {SITE}, not of rival")),
        "{history}"
    );

    bundle_of_the_history_verifies(&pipeline, &listed).await;
    pipeline.stop().await;
}

/// A transfers its item to B with a business transaction (a TransactionEvent naming B's party
/// GLN as the possessing party): B now speaks for it (packs it) and A no longer does, not even
/// backdated; B transfers it back the same way, and A speaks for it again. The bundle's story and
/// marks verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_with_a_business_transaction_moves_custody() {
    let pipeline = Pipeline::start(|_| {}).await;
    let token = register_b(&pipeline).await;
    let transfer = |minute: u32, to: &str| {
        let mut event = object(minute, "ADD", &[ITEM], "");
        event["type"] = json!("TransactionEvent");
        event.as_object_mut().unwrap().remove("bizStep");
        event["bizTransactionList"] =
            json!([{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO-7"}]);
        event["destinationList"] = json!([{"type": "possessing_party", "destination": to}]);
        event
    };
    let a = pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            transfer(2, "urn:epc:id:pgln:0712345.00000"),
        ])
        .await;
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![
            at_b(aggregation(4, "ADD", B_PALLET, &[ITEM])),
            at_b(transfer(5, "urn:epc:id:pgln:0614141.00000")),
        ],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let b = receipt_hashes(&body);
    // A packs it after the transfer, and then backdated to before it.
    let late = pipeline
        .capture(vec![
            aggregation(6, "ADD", CASE, &[ITEM]),
            aggregation(1, "ADD", CASE, &[ITEM]),
        ])
        .await;

    let (history, listed) = item_history(&pipeline).await;
    let authority = |hash: &str| authority_of(&history, hash);
    assert_eq!(authority(&a[1])["kind"], "authorised", "{history}");
    assert_eq!(authority(&b[0])["kind"], "authorised", "{history}");
    // B handed it back to A: A speaks for it again from minute 5.
    assert_eq!(authority(&b[1])["kind"], "authorised", "{history}");
    assert_eq!(authority(&late[0])["kind"], "authorised", "{history}");
    // A's backdated packing, logged after A had handed the item over, changes nothing.
    assert!(
        authority(&late[1])["reason"]
            .as_str()
            .unwrap()
            .contains("over (entry 1) before this change of its past was reported"),
        "{history}"
    );
    bundle_of_the_history_verifies(&pipeline, &listed).await;
    pipeline.stop().await;
}

/// B relates A's item to its own pallet (packing it in) and its own item (transforming A's item
/// into it), then gives both more events than a bundle of A's item may gather (4 x 8): A's item
/// still answers, and its bundle, which holds none of B's pallet's or item's events, verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_cannot_make_an_item_unanswerable() {
    let pipeline = Pipeline::start(|config| config.limits.max_bundle_events = 8).await;
    let token = register_b(&pipeline).await;
    let a = a_s_journey(&pipeline).await;
    let mut events = vec![
        at_b(aggregation(2, "ADD", B_PALLET, &[ITEM])),
        json!({"type": "TransformationEvent", "eventTime": at_seconds(150),
            "eventTimeZoneOffset": "+00:00", "inputEPCList": [ITEM], "outputEPCList": [B_ITEM],
            "readPoint": {"id": B_LOCATION}}),
    ];
    for minute in 0..40 {
        events.push(at_b(object(
            10 + minute,
            "OBSERVE",
            &[B_PALLET, B_ITEM],
            "inspecting",
        )));
    }
    let (status, body) = capture_as_b(&pipeline, &token, events).await;
    assert_eq!(status, 202, "{body}");
    let b = receipt_hashes(&body);

    let (status, history) = pipeline
        .get(&format!("/items/{}/history", segment(ITEM)))
        .await;
    assert_eq!(status, 200, "{history}");
    let (bundle, bundled, _) = item_bundle(&pipeline).await;
    // A's events and B's two that name the item (unauthorised), nothing of B's pallet or item.
    assert_eq!(
        bundled,
        [&a[0], &a[1], &b[0], &b[1], &a[2], &a[3]].map(String::as_str)
    );
    story_and_authority_verified(&pipeline, &bundle);
    pipeline.stop().await;
}

/// The item's provenance bundle, its events' hashes in its order, and its JSON.
async fn item_bundle(pipeline: &Pipeline) -> (ProvenanceBundle, Vec<String>, Value) {
    bundle_of(pipeline, ITEM).await
}

/// As [`item_bundle`], of `id`.
async fn bundle_of(pipeline: &Pipeline, id: &str) -> (ProvenanceBundle, Vec<String>, Value) {
    let (status, body) = pipeline
        .get(&format!("/items/{}/bundle", segment(id)))
        .await;
    assert_eq!(status, 200, "{body}");
    let bundle: ProvenanceBundle = serde_json::from_value(body.clone()).unwrap();
    let hashes = bundle
        .events
        .iter()
        .map(|event| event.event_hash.to_ni_uri())
        .collect();
    (bundle, hashes, body)
}

/// The item's history (one page of up to 100 events) and its events' hashes in its order.
async fn item_history(pipeline: &Pipeline) -> (Value, Vec<String>) {
    history_of(pipeline, ITEM).await
}

/// As [`item_history`], of `id`.
async fn history_of(pipeline: &Pipeline, id: &str) -> (Value, Vec<String>) {
    let (status, history) = pipeline
        .get(&format!("/items/{}/history?limit=100", segment(id)))
        .await;
    assert_eq!(status, 200, "{history}");
    let listed = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["eventHash"].as_str().unwrap().to_owned())
        .collect();
    (history, listed)
}

/// The `authority` of the event of `history` whose hash is `hash`.
fn authority_of(history: &Value, hash: &str) -> Value {
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["eventHash"] == hash)
        .unwrap_or_else(|| panic!("{hash} is not in {history}"))["authority"]
        .clone()
}

/// The item's bundle holds the events of its history, `listed`, in its order, and its story
/// and marks verify.
async fn bundle_of_the_history_verifies(pipeline: &Pipeline, listed: &[String]) {
    let (bundle, hashes, _) = item_bundle(pipeline).await;
    assert_eq!(hashes, listed);
    story_and_authority_verified(pipeline, &bundle);
}

/// The event hashes of a capture answer's receipts, in order.
fn receipt_hashes(body: &Value) -> Vec<String> {
    body["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["eventHash"].as_str().unwrap().to_owned())
        .collect()
}

/// B floods A's item with 30 observations, more than its history (12) or its bundle (8) may
/// hold: both still answer, with every event of A's, B's first in log order up to an equal
/// share, and how many of B's were left out. Who reported each candidate, and whether it changes
/// state, comes from the lookups before any event is loaded. The bundle's story and authority
/// verify, and its
/// completeness check repeats what its writer left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_s_flood_is_shared_out_not_refused() {
    let flood = (0..30)
        .map(|minute| at_b(object(10 + minute, "OBSERVE", &[ITEM], "inspecting")))
        .collect();
    a_flood_is_shared_out(flood).await;
}

/// The same with 30 packings of A's item into B's pallet, each refused (A has custody): changes
/// B had no right to make are shared out like observations. Before, every state change was kept,
/// and these made A's item a permanent `422`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_s_flood_of_refused_changes_is_shared_out() {
    let flood = (0..30)
        .map(|minute| at_b(aggregation(10 + minute, "ADD", B_PALLET, &[ITEM])))
        .collect();
    a_flood_is_shared_out(flood).await;
}

/// A ships its case to B (named in its `destinationList`) and takes it back itself (a return,
/// logged first). B floods the case with receipts, each refused ("A received ... logged
/// before"): six dated right after the shipping, one dated later. A's own dock read of the
/// return, dated between them and uploaded last, is refused by B's later receipt. Thirteen
/// events for a history of 12: B's share leaves its later receipt out, and A's late read goes
/// with it (its mark rests on that receipt). Before, the events kept judged A's read otherwise,
/// so every state change was kept and A's item answered `422` for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_party_s_flood_of_refused_receipts_leaves_the_item_answerable() {
    let pipeline = Pipeline::start(|config| {
        config.limits.max_history_events = 12;
        config.limits.max_bundle_events = 12;
    })
    .await;
    let token = register_b(&pipeline).await;
    let mut shipping = object(5, "OBSERVE", &[CASE], "shipping");
    shipping["destinationList"] = json!([{"type": "location", "destination": B_LOCATION}]);
    let mut a = pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            aggregation(1, "ADD", CASE, &[ITEM]),
            object(3, "OBSERVE", &[CASE], "receiving"),
            shipping,
            object(100, "OBSERVE", &[CASE], "receiving"),
        ])
        .await;
    let flood = (6..12)
        .chain([50])
        .map(|minute| at_b(object(minute, "OBSERVE", &[CASE], "receiving")))
        .collect();
    let (status, body) = capture_as_b(&pipeline, &token, flood).await;
    assert_eq!(status, 202, "{body}");
    let b = receipt_hashes(&body);
    a.extend(
        pipeline
            .capture(vec![object(40, "OBSERVE", &[CASE], "receiving")])
            .await,
    );

    // A's journey and return, and B's first six receipts; B's last and A's late read counted.
    let (history, listed) = item_history(&pipeline).await;
    let expected: Vec<&str> = a[..4]
        .iter()
        .chain(&b[..6])
        .chain([&a[4]])
        .map(String::as_str)
        .collect();
    assert_eq!(listed, expected, "{history}");
    assert_eq!(
        history["omitted"],
        json!([{"reportedBy": "rival", "events": 1}, {"reportedBy": SITE, "events": 1}])
    );
    assert_eq!(authority_of(&history, &a[4])["kind"], "authorised");
    for receipt in &b[..6] {
        assert_eq!(
            authority_of(&history, receipt)["reason"],
            format!(
                "{SITE} received {CASE} in entry 4, logged before this receipt and dated after it"
            ),
            "{history}"
        );
    }
    // The bundle holds the same, and a verifier judging it alone agrees with every mark.
    let (bundle, bundled, body) = item_bundle(&pipeline).await;
    assert_eq!(bundled, expected, "{body}");
    story_and_authority_verified(&pipeline, &bundle);
    pipeline.stop().await;
}

/// A pipeline whose histories hold 12 events and bundles 8, with B registered and A's journey
/// captured: the pipeline, B's token and A's event hashes.
async fn a_journey_with_small_limits() -> (Pipeline, String, Vec<String>) {
    let pipeline = Pipeline::start(|config| {
        config.limits.max_history_events = 12;
        config.limits.max_bundle_events = 8;
    })
    .await;
    let token = register_b(&pipeline).await;
    let a = a_s_journey(&pipeline).await;
    (pipeline, token, a)
}

/// B's 30 `flood` events of A's item, all after A's journey, leave it answerable: see
/// [`another_organisation_s_flood_is_shared_out_not_refused`].
async fn a_flood_is_shared_out(flood: Vec<Value>) {
    let (pipeline, token, a) = a_journey_with_small_limits().await;
    let (status, body) = capture_as_b(&pipeline, &token, flood).await;
    assert_eq!(status, 202, "{body}");
    let b = receipt_hashes(&body);
    assert_eq!(b.len(), 30);

    // The history: A's 4 state changes and B's first 8 (of the 10 its share of the item's own
    // events took).
    let (history, listed) = item_history(&pipeline).await;
    let expected: Vec<&str> = a.iter().chain(&b[..8]).map(String::as_str).collect();
    assert_eq!(listed, expected);
    assert_eq!(history["total"], 12);
    assert_eq!(
        history["omitted"],
        json!([{"reportedBy": "rival", "events": 22}])
    );

    // The bundle: A's 4 and B's first 4.
    let (bundle, bundled, body) = item_bundle(&pipeline).await;
    assert_eq!(
        body["omitted"],
        json!([{"reportedBy": "rival", "events": 26}])
    );
    let expected: Vec<&String> = a.iter().chain(&b[..4]).collect();
    assert_eq!(bundled.iter().collect::<Vec<_>>(), expected);
    story_and_authority_verified(&pipeline, &bundle);
    // The index lists the 26 left out: completeness is not proven, and they are named.
    pipeline.wait_for_index(34).await;
    let (bundle, ..) = item_bundle(&pipeline).await;
    let report = story_and_authority_verified(&pipeline, &bundle);
    let Some(Outcome::Skipped(why)) = report.bundle_checks().outcome(CheckName::Complete) else {
        panic!("completeness must be reported skipped: {report:?}");
    };
    assert!(
        why.starts_with(
            "the writer says it left out 26 events of this history (26 by rival), and the index \
             lists 26 entries the bundle does not carry: leaves 8, 9, "
        ),
        "{why}"
    );
    pipeline.stop().await;
}

/// B floods A's item with 100 observations, more than four times what its history (12) or its
/// bundle (8) may hold (the most a history chose among when learning who reported each candidate
/// cost a read of its leaf record), and A observed its item 10 times itself. Both still answer,
/// choosing from the lookups alone: every state change of A's is read, and observations, A's as
/// well as B's, are shared out. Before the lookups said who reported each event and whether it
/// changes state, the flood made the item a `422`, and so did any flood that pushed A's own
/// events past an equal share (any of them could have been a state change). Answered the same
/// whether the lookups cover the flood yet or not (entries they do not cover are found by a
/// scan and told apart by their text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_any_size_leaves_every_state_change_read() {
    let (pipeline, token, a) = a_journey_with_small_limits().await;
    let inspections = (0..10)
        .map(|second| {
            let mut event = object(0, "OBSERVE", &[ITEM], "inspecting");
            event["eventTime"] = json!(at_seconds(4 * 60 + second));
            event
        })
        .collect();
    let a_observed = pipeline.capture(inspections).await;
    let flood = (0..100)
        .map(|minute| at_b(object(10 + minute, "OBSERVE", &[ITEM], "inspecting")))
        .collect();
    let (status, body) = capture_as_b(&pipeline, &token, flood).await;
    assert_eq!(status, 202, "{body}");
    let b = receipt_hashes(&body);
    assert_eq!(b.len(), 100);

    // The history: the item's 2 state changes and 10 observations shared (A's first 5, B's
    // first 5), its case's 2; then, 14 being more than 12, A's 4 state changes kept and 4 of
    // each party's observations, in event-time order.
    let expected: Vec<&str> = a[..3]
        .iter()
        .chain(&a_observed[..4])
        .chain(&a[3..])
        .chain(&b[..4])
        .map(String::as_str)
        .collect();
    // By organisation, in order of its id.
    let omitted = json!([{"reportedBy": "rival", "events": 96}, {"reportedBy": SITE, "events": 6}]);
    for indexed in [false, true] {
        if indexed {
            pipeline.wait_for_index(114).await;
        }
        let (history, listed) = item_history(&pipeline).await;
        assert_eq!(listed, expected, "indexed: {indexed}");
        assert_eq!(history["omitted"], omitted, "indexed: {indexed}");
    }

    // The bundle: A's 4 state changes, 2 observations of each.
    let (bundle, bundled, body) = item_bundle(&pipeline).await;
    assert_eq!(
        body["omitted"],
        json!([{"reportedBy": "rival", "events": 98}, {"reportedBy": SITE, "events": 8}])
    );
    let expected: Vec<&String> = a[..3]
        .iter()
        .chain(&a_observed[..2])
        .chain(&a[3..])
        .chain(&b[..2])
        .collect();
    assert_eq!(bundled.iter().collect::<Vec<_>>(), expected);
    story_and_authority_verified(&pipeline, &bundle);
    pipeline.stop().await;
}

/// A holds its item and moves it 8 times itself (shipping and receiving it by turns), and B
/// packs it into B's pallet 30 times, each refused: the state changes alone are more than a
/// history of 12 reads in a round, so they are shared out (6 of A's 9, 6 of B's 30), and A,
/// judged to have authority over the item, has its other 3 read in a further question. The
/// history and the bundle answer with every event of A's and B's first 3, B's other 27 counted,
/// whether the lookups cover the flood yet or not. Before, a custodian whose own state changes
/// were more than an equal share of a round (6 of 12 against one flooding party) made its item
/// a `422` under such a flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_changes_cannot_crowd_the_custodian_s_own_out() {
    let pipeline = Pipeline::start(|config| {
        config.limits.max_history_events = 12;
        config.limits.max_bundle_events = 12;
    })
    .await;
    let token = register_b(&pipeline).await;
    let mut moves = vec![object(0, "ADD", &[ITEM], "commissioning")];
    for minute in 1..=8 {
        let step = ["receiving", "shipping"][minute as usize % 2];
        moves.push(object(minute, "OBSERVE", &[ITEM], step));
    }
    let a = pipeline.capture(moves).await;
    let flood = (0..30)
        .map(|minute| at_b(aggregation(10 + minute, "ADD", B_PALLET, &[ITEM])))
        .collect();
    let (status, body) = capture_as_b(&pipeline, &token, flood).await;
    assert_eq!(status, 202, "{body}");
    let b = receipt_hashes(&body);
    assert_eq!(b.len(), 30);

    let expected: Vec<&str> = a.iter().chain(&b[..3]).map(String::as_str).collect();
    let omitted = json!([{"reportedBy": "rival", "events": 27}]);
    for indexed in [false, true] {
        if indexed {
            pipeline.wait_for_index(39).await;
        }
        let (history, listed) = item_history(&pipeline).await;
        assert_eq!(listed, expected, "indexed: {indexed}");
        assert_eq!(history["omitted"], omitted, "indexed: {indexed}");
        let (bundle, bundled, body) = item_bundle(&pipeline).await;
        assert_eq!(bundled, expected, "indexed: {indexed}");
        assert_eq!(body["omitted"], omitted, "indexed: {indexed}");
        // A's marked authorised, B's refused.
        for (position, event) in bundle.events.iter().enumerate() {
            let marked = match &event.authority {
                Some(Authority::Authorised) => position < 9,
                Some(Authority::Unauthorised { .. }) => position >= 9,
                _ => false,
            };
            assert!(
                marked,
                "indexed: {indexed}, {position}: {:?}",
                event.authority
            );
        }
        story_and_authority_verified(&pipeline, &bundle);
    }
    pipeline.stop().await;
}

/// The store gives an event other than the log committed to (its text changed behind the
/// ledger's back, as the superuser, past the append-only trigger): the scan's verdict is unknown,
/// naming the entry, and the altered event is no evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_altered_in_the_store_leaves_the_item_unknown() {
    const SCAN: &str = "/01/80614141123458/21/6789";
    let pipeline = Pipeline::start(|_| {}).await;
    register_b(&pipeline).await;
    a_s_journey(&pipeline).await;
    let commissioning = pipeline
        .tamper_with_commissioning(|leaf| {
            ledger_store::testing::change_event_sql(leaf, |event| {
                format!("replace({event}, '\"ObjectEvent\"', '\"ObjectEvent\" ')")
            })
        })
        .await;
    let (status, after) = pipeline.get(SCAN).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["verdict"], "unknown", "{after}");
    assert_eq!(
        reason(&after, "not_as_logged")["evidence"],
        serde_json::json!([commissioning]),
        "{after}"
    );
    assert!(!reason_codes(&after).contains(&"commissioned"), "{after}");
    pipeline.stop().await;
}

/// The store loses A's commissioning (its event taken out of the log behind the ledger's back,
/// as the superuser, past the append-only trigger) after the lookups listed it: the item's
/// history, its bundle and its scan answer `500` and log why, rather than the shorter story
/// told as the whole one. Before, the lost entry was silently left out and the history
/// answered `200` with A's other three events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_the_store_lost_is_an_error_not_a_shorter_history() {
    a_tampered_commissioning_is_an_error(ledger_store::testing::delete_event_sql).await;
}

/// As [`an_entry_the_store_lost_is_an_error_not_a_shorter_history`], in the tail the lookups do
/// not cover, which histories scan: the lookup runs are dropped with the entry, and the indexer
/// stops at the lost entry when it builds them again, so every entry is in the tail from there
/// on. A guard of the path end to end: that the scan used to find less is shown in
/// ledger-store's `a_scan_over_a_lost_entry_is_an_error_not_a_shorter_answer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_the_store_lost_in_the_unindexed_tail_is_an_error_not_a_shorter_history() {
    a_tampered_commissioning_is_an_error(|leaf| {
        format!(
            "{}; DELETE FROM lookup_pages; DELETE FROM lookup_runs",
            ledger_store::testing::delete_event_sql(leaf)
        )
    })
    .await;
}

/// As [`an_entry_the_store_lost_is_an_error_not_a_shorter_history`], with A's commissioning's
/// stored text overwritten by something that is not JSON. Before, the entry was left out as
/// one that does not parse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_whose_stored_event_is_not_json_is_an_error_not_a_shorter_history() {
    a_tampered_commissioning_is_an_error(|leaf| {
        ledger_store::testing::change_event_sql(leaf, |_| "'not json'".to_owned())
    })
    .await;
}

/// A's journey, indexed, then its commissioning tampered with by the SQL `tamper` makes of its
/// leaf (run as the superuser with triggers off): the item's history, bundle and scan are `500`.
async fn a_tampered_commissioning_is_an_error(tamper: impl Fn(u64) -> String) {
    const SCAN: &str = "/01/80614141123458/21/6789";
    let pipeline = Pipeline::start(|_| {}).await;
    a_s_journey(&pipeline).await;
    pipeline.wait_for_index(4).await;
    pipeline.tamper_with_commissioning(tamper).await;
    let admin = pipeline.db.connect().await.unwrap();
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM events WHERE event LIKE '%\"commissioning\"%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the commissioning is stored as it was");
    for path in [
        format!("/items/{}/history", segment(ITEM)),
        format!("/items/{}/bundle", segment(ITEM)),
        SCAN.to_owned(),
    ] {
        let (status, body) = pipeline.get(&path).await;
        assert_eq!(status, 500, "{path}: {body}");
        assert_eq!(
            body["type"], "https://tagtrail.dev/problems/internal",
            "{path}: {body}"
        );
    }
    pipeline.stop().await;
}

/// A consumer scans A's item's GS1 Digital Link: the verdict is data with reasons naming the
/// entries they rest on (no anchor here: `not_anchored_yet`). B's refused "destroying" of A's
/// item changes nothing; A's own destroying, then B's sighting of the item, make it suspicious.
/// A link with a wrong check digit is a `400` problem, an item no event names is `unknown`, the
/// query string (an NFC tag's tap data) passes through, and a logistic unit's SSCC link answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_answers_the_verdict_as_data() {
    const SCAN: &str = "/01/80614141123458/21/6789";
    let pipeline = Pipeline::start(|_| {}).await;
    let token = register_b(&pipeline).await;
    a_s_journey(&pipeline).await;
    let (status, answer) = pipeline.get(SCAN).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verdict"], "not_anchored_yet", "{answer}");
    assert!(
        answer["item"]["epcs"]
            .as_array()
            .unwrap()
            .contains(&json!(ITEM)),
        "{answer}"
    );
    assert_eq!(reason_codes(&answer), ["commissioned", "not_anchored_yet"]);
    let first = &answer["journey"][0];
    assert_eq!(first["bizStep"], "commissioning");
    assert_eq!(
        reason(&answer, "commissioned")["evidence"],
        json!([first["leafIndex"]])
    );
    assert_eq!(
        answer["links"]["bundle"],
        "/items/https:%2F%2Fid.gs1.org%2F01%2F80614141123458%2F21%2F6789/bundle"
    );
    let (status, _) = pipeline
        .get(answer["links"]["history"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);

    // B says A's item was destroyed: refused, it ends nothing.
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![at_b(object(6, "OBSERVE", &[ITEM], "destroying"))],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let refused = receipt_leaves(&body);
    let (_, answer) = pipeline.get(SCAN).await;
    assert_eq!(answer["verdict"], "not_anchored_yet", "{answer}");
    assert_eq!(
        reason_codes(&answer),
        ["commissioned", "not_anchored_yet", "refused_events_ignored"]
    );
    assert_eq!(
        reason(&answer, "refused_events_ignored")["evidence"],
        json!(refused)
    );
    // Tap data in the query string passes through.
    let (status, tapped) = pipeline
        .get(&format!(
            "{SCAN}?linkType=gs1:verificationService&e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086"
        ))
        .await;
    assert_eq!(status, 200, "{tapped}");
    assert_eq!(tapped["verdict"], answer["verdict"]);
    // This service has no NFC keys: the tap is named, and weighs nothing.
    assert_eq!(
        reason(&tapped, "nfc_tap_unchecked")["weight"],
        "note",
        "{tapped}"
    );

    // A destroys it; B sees it afterwards.
    let destroyed = pipeline
        .capture(vec![object(7, "DELETE", &[ITEM], "destroying")])
        .await;
    assert_eq!(destroyed.len(), 1);
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![at_b(object(9, "OBSERVE", &[ITEM], "inspecting"))],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let seen = receipt_leaves(&body);
    let (_, answer) = pipeline.get(SCAN).await;
    assert_eq!(answer["verdict"], "suspicious", "{answer}");
    let after = reason(&answer, "seen_after_end");
    assert_eq!(after["weight"], "suspicious");
    let evidence = after["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 2, "{after}");
    assert_eq!(evidence[1], json!(seen[0]));

    // A wrong check digit: a problem, not a page.
    let (status, problem) = pipeline.get("/01/80614141123457/21/6789").await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("/01/80614141123457/21/6789 is not a GS1 Digital Link of one item"),
        "{problem}"
    );
    // The same item by a link that names its lot too.
    let (status, with_lot) = pipeline.get("/01/80614141123458/10/L1/21/6789").await;
    assert_eq!(status, 200, "{with_lot}");
    assert_eq!(with_lot["verdict"], answer["verdict"]);
    assert_eq!(with_lot["reasons"], answer["reasons"]);
    // A serial no event names: unknown.
    let (status, unknown) = pipeline.get("/01/80614141123458/21/1").await;
    assert_eq!(status, 200, "{unknown}");
    assert_eq!(unknown["verdict"], "unknown");
    assert_eq!(reason_codes(&unknown), ["never_commissioned"]);
    assert_eq!(unknown["journey"], json!([]));
    // The case, by its SSCC: brought into being by A's packing.
    let (status, case) = pipeline.get("/00/106141412345678908").await;
    assert_eq!(status, 200, "{case}");
    assert!(
        case["item"]["epcs"]
            .as_array()
            .unwrap()
            .contains(&json!(CASE)),
        "{case}"
    );
    assert_eq!(case["verdict"], "not_anchored_yet", "{case}");
    assert_eq!(
        reason(&case, "commissioned")["evidence"],
        json!([case["journey"][0]["leafIndex"]])
    );
    assert_eq!(case["journey"][0]["type"], "AggregationEvent");
    pipeline.stop().await;
}

/// The leaf indexes of a capture answer's receipts, in order.
fn receipt_leaves(body: &Value) -> Vec<u64> {
    body["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["leafIndex"].as_u64().unwrap())
        .collect()
}

/// The scan of `SCAN`'s item once `done` accepts it (the registry's places are read again when
/// the registry changes, within the cache's recheck).
async fn scan_until(pipeline: &Pipeline, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, answer) = pipeline.get("/01/80614141123458/21/6789").await;
        assert_eq!(status, 200, "{answer}");
        if done(&answer) {
            return answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never {what}: {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// With the registry's places (A's location in Amsterdam, B's in Shanghai), B's sighting of A's
/// item minutes after A last handled it is travel one object cannot make: suspicious, naming
/// both entries. With B's place cleared, the sighting is nowhere in particular and weighs
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_finds_travel_one_object_cannot_make() {
    let pipeline = Pipeline::start(|_| {}).await;
    let token = register_b(&pipeline).await;
    a_s_journey(&pipeline).await;
    let admin = pipeline.db.connect().await.unwrap();
    let located = |id: &str| registry::SiteLocation::parse(id).unwrap();
    let amsterdam = registry::place(52.37, 4.90).unwrap();
    let shanghai = registry::place(31.23, 121.47).unwrap();
    registry::set_location_place(&admin, &located(LOCATION), Some(amsterdam))
        .await
        .unwrap();
    registry::set_location_place(&admin, &located(B_LOCATION), Some(shanghai))
        .await
        .unwrap();
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![at_b(object(10, "OBSERVE", &[ITEM], "inspecting"))],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let seen = receipt_leaves(&body)[0];
    let answer = scan_until(&pipeline, "suspicious", |answer| {
        answer["verdict"] == "suspicious"
    })
    .await;
    let travel = reason(&answer, "impossible_travel");
    let shipped = answer["journey"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["bizStep"] == "shipping")
        .unwrap();
    assert_eq!(
        travel["evidence"],
        json!([shipped["leafIndex"], seen]),
        "{answer}"
    );
    assert_eq!(
        reason_codes(&answer),
        ["commissioned", "impossible_travel", "not_anchored_yet"]
    );

    registry::set_location_place(&admin, &located(B_LOCATION), None)
        .await
        .unwrap();
    let answer = scan_until(&pipeline, "unsuspicious", |answer| {
        answer["verdict"] != "suspicious"
    })
    .await;
    assert_eq!(answer["verdict"], "not_anchored_yet");
    pipeline.stop().await;
}

/// The scan routes answer as a GS1-Conformant Resolver does: the linkset (by `linkType` or by
/// `Accept`), a `307` to the history (which answers), a `404` for a link type
/// there is no link of, the `Link` header naming the linkset and CORS on every answer, the
/// preflight, the description file, and `405` naming `OPTIONS` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_routes_answer_as_a_gs1_resolver() {
    const SCAN: &str = "/01/80614141123458/21/6789";
    let pipeline = Pipeline::start(|_| {}).await;
    a_s_journey(&pipeline).await;
    let header = |headers: &[(String, String)], name: &str| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("no {name}: {headers:?}"))
    };
    let host = pipeline.trace.clone();
    let anchor = format!("{host}{SCAN}");

    // The verdict (the default): the Link header names the linkset; any origin may read it.
    let (status, headers, _) = pipeline.get_raw(SCAN).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), "*");
    assert_eq!(
        header(&headers, "link"),
        format!("<{anchor}?linkType=linkset>; rel=\"linkset\"; type=\"application/linkset+json\"")
    );

    // A Host header that would add parameters to `Link` is not echoed; the linkset is chosen
    // by `Accept` and says so, and no cache may keep it for another request.
    let (status, headers, body) = pipeline
        .get_with(
            SCAN,
            &[
                ("accept", "application/linkset+json"),
                ("host", "evil.example>; rel=\"x\""),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(!header(&headers, "link").contains("evil"), "{headers:?}");
    assert!(!String::from_utf8_lossy(&body).contains("evil"));
    assert_eq!(header(&headers, "vary"), "Accept");
    assert_eq!(header(&headers, "cache-control"), "no-cache");

    // The linkset, asked for either way.
    for (path, accept) in [
        (format!("{SCAN}?linkType=linkset"), "application/json"),
        (format!("{SCAN}?linkType=all"), "*/*"),
        (SCAN.to_owned(), "application/linkset+json"),
    ] {
        let (status, headers, body) = pipeline.get_with(&path, &[("accept", accept)]).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&headers, "content-type"), "application/linkset+json");
        assert!(
            header(&headers, "link").contains(
                "<https://ref.gs1.org/standards/resolver/linkset-context>; \
                 rel=\"http://www.w3.org/ns/json-ld#context\""
            ),
            "{headers:?}"
        );
        let linkset: Value = serde_json::from_slice(&body).unwrap();
        let links = &linkset["linkset"][0];
        assert_eq!(links["anchor"], anchor);
        assert_eq!(
            links["https://ref.gs1.org/voc/verificationService"][0]["href"],
            format!("{anchor}?linkType=gs1:verificationService")
        );
        assert_eq!(
            links["https://ref.gs1.org/voc/defaultLink"],
            links["https://ref.gs1.org/voc/verificationService"]
        );
        assert_eq!(
            links["https://ref.gs1.org/voc/traceability"][0]["href"],
            format!(
                "{host}/items/https:%2F%2Fid.gs1.org%2F01%2F80614141123458%2F21%2F6789/history"
            )
        );
    }

    // The history's link type: a 307 there (the history takes no tap data: not passed on).
    let (status, headers, body) = pipeline
        .request_raw(
            "GET",
            &format!("{SCAN}?linkType=gs1%3Atraceability&foo=bar"),
        )
        .await;
    assert_eq!(status, 307, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        header(&headers, "location"),
        format!("{host}/items/https:%2F%2Fid.gs1.org%2F01%2F80614141123458%2F21%2F6789/history")
    );
    let (status, _) = pipeline
        .get(&format!("{SCAN}?linkType=gs1:traceability&foo=bar"))
        .await;
    assert_eq!(status, 200, "the redirect followed answers");
    let (status, verdict) = pipeline
        .get(&format!(
            "{SCAN}?linkType=https://ref.gs1.org/voc/verificationService"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["verdict"], "not_anchored_yet");
    // A link type there is no link of.
    let (status, problem) = pipeline.get(&format!("{SCAN}?linkType=gs1:pip")).await;
    assert_eq!(status, 404, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("no link of type gs1:pip for "),
        "{problem}"
    );

    // A huge link type is refused the same way, and not echoed whole.
    let huge = "x".repeat(4000);
    let (status, problem) = pipeline.get(&format!("{SCAN}?linkType={huge}")).await;
    assert_eq!(status, 404, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.len() < 600, "{} bytes", detail.len());

    // The preflight, and a method the route does not answer.
    let (status, headers, body) = pipeline.request_raw("OPTIONS", SCAN).await;
    assert_eq!(status, 204);
    assert!(body.is_empty());
    assert_eq!(
        header(&headers, "access-control-allow-methods"),
        "GET, HEAD, OPTIONS"
    );
    assert_eq!(header(&headers, "access-control-allow-origin"), "*");
    assert!(header(&headers, "link").contains("rel=\"linkset\""));
    let (status, headers, _) = pipeline.request_raw("DELETE", SCAN).await;
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "allow"), "GET, HEAD, OPTIONS");
    let (status, headers, _) = pipeline
        .request_raw("DELETE", &format!("/items/{}/history", segment(ITEM)))
        .await;
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "allow"), "GET, HEAD");

    // A browser gets the page: the same verdict, in its language, with no script allowed.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for (language, lang, said) in [
        ("en-GB,en;q=0.9", "en", "<strong>Not anchored yet</strong>"),
        ("zh-CN,zh;q=0.9", "zh-Hans", "<strong>尚未锚定</strong>"),
    ] {
        let (status, headers, body) = pipeline
            .get_with(SCAN, &[("accept", browser), ("accept-language", language)])
            .await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
        assert!(header(&headers, "content-security-policy").starts_with("default-src 'none'"));
        assert_eq!(header(&headers, "vary"), "Accept, Accept-Language");
        let page = String::from_utf8(body).unwrap();
        assert!(
            page.starts_with(&format!("<!doctype html><html lang=\"{lang}\">")),
            "{page}"
        );
        assert!(page.contains(said), "{page}");
        assert!(page.len() < 30 * 1024);
    }

    // The description file.
    let (status, description) = pipeline.get("/.well-known/gs1resolver").await;
    assert_eq!(status, 200);
    assert_eq!(description["resolverRoot"], host);
    assert_eq!(description["supportedPrimaryKeys"], json!(["01", "00"]));
    pipeline.stop().await;
}

/// The item's bundle carries the index proofs of the item and its case: the verifier finds the
/// history complete up to the index's size, with the case's observation after the item was
/// unpacked carried outside the history; a copy with any event removed fails, naming the entry
/// the index lists and the copy does not carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_proves_its_history_complete_and_a_trimmed_copy_fails() {
    let pipeline = Pipeline::start(|_| {}).await;
    register_b(&pipeline).await;
    let mut hashes = a_s_journey(&pipeline).await;
    hashes.extend(
        pipeline
            .capture(vec![
                aggregation(7, "DELETE", CASE, &[ITEM]),
                object(9, "OBSERVE", &[CASE], "inspecting"),
            ])
            .await,
    );
    pipeline.wait_for_index(6).await;
    let (bundle, bundled, body) = item_bundle(&pipeline).await;
    assert_eq!(body["version"], 2);
    assert_eq!(
        bundled, hashes,
        "the history, then the case's later observation"
    );
    let outside = bundle.events.last().unwrap();
    assert!(outside.why.is_empty() && outside.event.contains("inspecting"));
    assert_eq!(
        bundle.index.as_ref().unwrap().proofs.len(),
        2,
        "the item and its case"
    );
    let report = story_and_authority_verified(&pipeline, &bundle);
    assert_eq!(
        report.bundle_checks().outcome(CheckName::Complete),
        Some(&Outcome::Passed),
        "{report:?}"
    );
    assert!(report.complete_through() >= Some(6), "{report:?}");

    for position in 0..bundle.events.len() {
        let mut trimmed = bundle.clone();
        let leaf = trimmed.events.remove(position).inclusion.leaf_index();
        let report = verify_provenance(&trimmed, &pipeline.trusted_keys().with_parties(parties()));
        match report.bundle_checks().outcome(CheckName::Complete) {
            Some(Outcome::Failed(reason)) => assert!(
                reason.contains(&format!("lists entry {leaf} under")),
                "event {position}: {reason}"
            ),
            other => panic!("event {position}: {other:?}"),
        }
    }
    pipeline.stop().await;
}

/// Asked for by Digital Link, the bundle follows every company-prefix split of its GTIN, as a
/// verifier reading the link does: B's event naming A's item under another split (the same
/// GTIN and serial, so the same index key) is part of the history the bundle tells, marked
/// unauthorised, and the bundle verifies complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_asked_for_by_link_follows_every_split_of_the_item() {
    const LINK: &str = "https://id.gs1.org/01/80614141123458/21/6789";
    const OTHER_SPLIT: &str = "urn:epc:id:sgtin:06141411.82345.6789";
    let pipeline = Pipeline::start(|_| {}).await;
    let token = register_b(&pipeline).await;
    let a = a_s_journey(&pipeline).await;
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![at_b(object(8, "OBSERVE", &[OTHER_SPLIT], "inspecting"))],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let b = receipt_hashes(&body);
    pipeline.wait_for_index(5).await;
    let (status, body) = pipeline
        .get(&format!("/items/{}/bundle", segment(LINK)))
        .await;
    assert_eq!(status, 200, "{body}");
    let bundle: ProvenanceBundle = serde_json::from_value(body).unwrap();
    let bundled: Vec<String> = bundle
        .events
        .iter()
        .map(|event| event.event_hash.to_ni_uri())
        .collect();
    let expected: Vec<String> = a.iter().chain(&b).cloned().collect();
    assert_eq!(bundled, expected);
    assert!(
        !bundle.events[4].why.is_empty(),
        "B's event is in the history"
    );
    let report = story_and_authority_verified(&pipeline, &bundle);
    assert_eq!(
        report.bundle_checks().outcome(CheckName::Complete),
        Some(&Outcome::Passed),
        "{report:?}"
    );
    pipeline.stop().await;
}

/// A recall of `ids` (CBV disposition `recalled`, no business step), from A's location.
fn recall(minute: u32, ids: &[&str]) -> Value {
    let mut event = object(minute, "OBSERVE", ids, "");
    let fields = event.as_object_mut().unwrap();
    fields.remove("bizStep");
    fields.insert("disposition".to_owned(), json!("recalled"));
    event
}

/// B "recalls" A's item (a party that is not the brand: refused at capture, nothing stored; the
/// views' marks for what gets past, ledger's verdict tests); then A, the brand, recalls the case
/// the item travelled in: every answer says it
/// first (the JSON's `recalled`, the first reason naming A's entry, the page's banner above the
/// verdict, the resolver's `gs1:recallStatus` link), the verdict on whether the item is genuine
/// is unchanged, and the bundle's story and marks verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_is_said_first_only_when_the_brand_made_it() {
    const SCAN: &str = "/01/80614141123458/21/6789";
    let pipeline = Pipeline::start(|_| {}).await;
    let token = register_b(&pipeline).await;
    a_s_journey(&pipeline).await;
    let (_, before) = pipeline.get(SCAN).await;
    assert_eq!(before["recalled"], false, "{before}");

    // B's recall of A's item is refused at capture, naming the item; nothing is stored.
    let (status, body) = capture_as_b(&pipeline, &token, vec![at_b(recall(6, &[ITEM]))]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["violations"][0]["rule"], "recall", "{body}");
    assert_eq!(
        body["violations"][0]["pointer"],
        "/epcisBody/eventList/0/epcList/0"
    );
    let (_, answer) = pipeline.get(SCAN).await;
    assert_eq!(answer["recalled"], false, "{answer}");
    assert_eq!(answer["journey"], before["journey"], "{answer}");

    // The item is still in its case: A recalls the case.
    pipeline.capture(vec![recall(7, &[CASE])]).await;
    let (status, answer) = pipeline.get(SCAN).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["recalled"], true, "{answer}");
    assert_eq!(answer["verdict"], before["verdict"], "{answer}");
    let first = &answer["reasons"][0];
    assert_eq!(first["code"], "recalled", "{answer}");
    assert_eq!(first["weight"], "recall");
    let recall_entry = answer["journey"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["disposition"] == "recalled" && step["reportedBy"] == SITE)
        .unwrap_or_else(|| panic!("no recall in the journey: {answer}"))["leafIndex"]
        .clone();
    assert_eq!(first["evidence"], json!([recall_entry]));
    assert!(
        first["detail"]
            .as_str()
            .unwrap()
            .contains("recalled a container it was in"),
        "{first}"
    );
    let (status, status_link) = pipeline
        .get(&format!("{SCAN}?linkType=gs1:recallStatus"))
        .await;
    assert_eq!(status, 200, "{status_link}");
    assert_eq!(status_link["recalled"], true);
    let (_, linkset) = pipeline.get(&format!("{SCAN}?linkType=linkset")).await;
    assert!(
        linkset.to_string().contains("linkType=gs1:recallStatus"),
        "{linkset}"
    );
    let (status, _, page) = pipeline
        .get_with(SCAN, &[("accept", "text/html"), ("accept-language", "en")])
        .await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    let banner = page.find("class=\"v recall\"").expect("no recall banner");
    assert!(banner < page.find("class=\"v not_anchored_yet").unwrap());

    // The bundle carries the recall with its mark, and the verifier recomputes it.
    let (bundle, _, _) = item_bundle(&pipeline).await;
    story_and_authority_verified(&pipeline, &bundle);
}

/// An ObjectEvent recalling (or, with `lift`, lifting the recall of) `classes`, by
/// `quantityList`: a recall of a lot or of a whole product, naming no item.
fn class_recall(minute: u32, classes: &[&str], lift: bool) -> Value {
    let mut event = recall(minute, &[]);
    event["quantityList"] = json!(
        classes
            .iter()
            .map(|class| json!({"epcClass": class, "quantity": 100}))
            .collect::<Vec<_>>()
    );
    if lift {
        let fields = event.as_object_mut().unwrap();
        fields.remove("disposition");
        fields.insert(
            "persistentDisposition".to_owned(),
            json!({"unset": ["recalled"]}),
        );
    }
    event
}

/// A, the brand, commissions its item into lot L1 and later recalls lot L1 by `quantityList`,
/// naming no item. The item's scan says so first, naming the lot; the lot's own link (a pack with
/// no serial) says the lot is recalled and that it names no one item; another lot's link does
/// not; the product's link lists L1 as a recalled lot without calling the product recalled. B's
/// recall of A's lot is refused at capture and changes nothing. A's lifting of the whole product
/// ends the lot's recall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_of_a_lot_or_a_product_reaches_every_scan_of_it() {
    const SCAN: &str = "/01/80614141123458/21/6789";
    const LOT: &str = "/01/80614141123458/10/L1";
    const OTHER_LOT: &str = "/01/80614141123458/10/L2";
    const PRODUCT: &str = "/01/80614141123458";
    const LOT_CLASS: &str = "urn:epc:class:lgtin:0614141.812345.L1";
    let pipeline = Pipeline::start(|_| {}).await;
    let token = register_b(&pipeline).await;
    let mut commissioning = object(0, "ADD", &[ITEM], "commissioning");
    commissioning["ilmd"] = json!({"cbvmda:lotNumber": "L1"});
    pipeline
        .capture(vec![
            commissioning,
            object(5, "OBSERVE", &[ITEM], "shipping"),
        ])
        .await;
    let (status, before) = pipeline.get(SCAN).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["recalled"], false, "{before}");
    for link in [LOT, PRODUCT] {
        let (status, answer) = pipeline.get(link).await;
        assert_eq!(status, 200, "{link}: {answer}");
        assert_eq!(answer["recalled"], false, "{answer}");
        assert_eq!(answer["verdict"], "unknown", "{answer}");
        assert_eq!(answer["journey"], json!([]), "{answer}");
        let codes: Vec<&str> = answer["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|reason| reason["code"].as_str())
            .collect();
        assert!(codes.contains(&"names_a_class"), "{answer}");
        assert!(!codes.contains(&"lots_recalled"), "{answer}");
    }

    // B's recall of A's lot is refused at capture, naming the class; nothing is stored.
    let (status, body) = capture_as_b(
        &pipeline,
        &token,
        vec![at_b(class_recall(6, &[LOT_CLASS], false))],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["violations"][0]["rule"], "recall", "{body}");
    let (_, answer) = pipeline.get(LOT).await;
    assert_eq!(answer["recalled"], false, "{answer}");

    // A recalls lot L1.
    pipeline
        .capture(vec![class_recall(7, &[LOT_CLASS], false)])
        .await;
    let (status, answer) = pipeline.get(SCAN).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["recalled"], true, "{answer}");
    assert_eq!(answer["verdict"], before["verdict"], "{answer}");
    let first = &answer["reasons"][0];
    assert_eq!(first["code"], "recalled", "{answer}");
    assert!(
        first["detail"]
            .as_str()
            .unwrap()
            .contains("recalled lot L1 of its product (GTIN 80614141123458)"),
        "{first}"
    );
    // The recall's entry, which no history holds, is its evidence.
    let journey: Vec<&Value> = answer["journey"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| &step["leafIndex"])
        .collect();
    let evidence = first["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 1, "{first}");
    assert!(!journey.contains(&&evidence[0]), "{answer}");
    // The lot's own link, and the item's link with another lot printed on it: recalled.
    for link in [LOT, "/01/80614141123458/10/L2/21/6789"] {
        let (_, answer) = pipeline.get(link).await;
        assert_eq!(answer["recalled"], true, "{link}: {answer}");
        assert_eq!(answer["reasons"][0]["evidence"], first["evidence"]);
    }
    let (_, other) = pipeline.get(OTHER_LOT).await;
    assert_eq!(other["recalled"], false, "{other}");
    // An item of lot L2 scanned by a link that prints the recalled L1: the log knows its lot,
    // and anyone may type a link, so it is not recalled, and both links give one verdict.
    let mut l2 = object(
        8,
        "ADD",
        &["urn:epc:id:sgtin:0614141.812345.6790"],
        "commissioning",
    );
    l2["ilmd"] = json!({"cbvmda:lotNumber": "L2"});
    pipeline.capture(vec![l2]).await;
    let (_, plain) = pipeline.get("/01/80614141123458/21/6790").await;
    let (_, misprinted) = pipeline.get("/01/80614141123458/10/L1/21/6790").await;
    assert_eq!(misprinted["recalled"], false, "{misprinted}");
    assert_eq!(misprinted["verdict"], plain["verdict"], "{misprinted}");
    assert_eq!(misprinted["reasons"], plain["reasons"], "{misprinted}");
    let (_, product) = pipeline.get(PRODUCT).await;
    assert_eq!(product["recalled"], false, "{product}");
    let lots = product["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|reason| reason["code"] == "lots_recalled")
        .unwrap_or_else(|| panic!("no lots_recalled: {product}"));
    assert!(
        lots["detail"]
            .as_str()
            .unwrap()
            .starts_with("lot L1 of this product"),
        "{lots}"
    );
    assert_eq!(lots["evidence"], first["evidence"]);

    // The product's page says it too, above all: compare the lot on the pack.
    let (_, _, page) = pipeline
        .get_with(
            PRODUCT,
            &[("accept", "text/html"), ("accept-language", "en")],
        )
        .await;
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("<strong>Some lots recalled</strong>"),
        "{page}"
    );

    // The lot's page: the recall banner, and no check to run (no bundle).
    let (status, _, page) = pipeline
        .get_with(LOT, &[("accept", "text/html"), ("accept-language", "en")])
        .await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("class=\"v recall\""), "{page}");
    assert!(!page.contains("tt-check-data"), "{page}");
    // As a resolver: a linkset without history or bundle, whose absence is a 404; a preflight;
    // a wrong check digit is a 400.
    let (status, linkset) = pipeline.get(&format!("{LOT}?linkType=linkset")).await;
    assert_eq!(status, 200, "{linkset}");
    assert!(
        linkset.to_string().contains("recallStatus")
            && !linkset.to_string().contains("traceability")
            && linkset.to_string().contains("Is it recalled?")
            && !linkset.to_string().contains("Is it genuine?"),
        "{linkset}"
    );
    let (status, missing) = pipeline
        .get(&format!("{LOT}?linkType=gs1:traceability"))
        .await;
    assert_eq!(status, 404, "{missing}");
    let (status, bad) = pipeline.get("/01/80614141123459/10/L1").await;
    assert_eq!(status, 400, "{bad}");
    // A lot longer than GS1 allows (20 characters), or with a character outside its set: 400,
    // nothing looked up.
    for odd in [
        format!("/01/80614141123458/10/{}", "L".repeat(21)),
        "/01/80614141123458/10/L%201".to_owned(),
    ] {
        let (status, bad) = pipeline.get(&odd).await;
        assert_eq!(status, 400, "{odd}: {bad}");
    }
    for link in [LOT, PRODUCT] {
        let (status, headers, _) = pipeline.request_raw("OPTIONS", link).await;
        assert_eq!(status, 204, "{link}");
        assert!(
            headers
                .iter()
                .any(|(name, value)| name == "allow" && value == "GET, HEAD, OPTIONS"),
            "{headers:?}"
        );
    }
    let (status, _, _) = pipeline
        .request_raw("OPTIONS", "/01/80614141123459/10/L1")
        .await;
    assert_eq!(status, 400);

    // A lifts the recall of the whole product: the lot's recall ends with it.
    pipeline
        .capture(vec![class_recall(
            8,
            &["urn:epc:idpat:sgtin:0614141.812345.*"],
            true,
        )])
        .await;
    for link in [SCAN, LOT] {
        let (_, answer) = pipeline.get(link).await;
        assert_eq!(answer["recalled"], false, "{link}: {answer}");
        assert!(
            answer["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|reason| reason["code"] == "recall_lifted"),
            "{answer}"
        );
    }

    // A recall of lot L3 that A then declares erroneous holds nothing. B cannot declare it
    // erroneous: its copy must name B's own location, so it is another event and declares
    // nothing, and A's recall stands.
    const L3: &str = "/01/80614141123458/10/L3";
    let l3 = class_recall(9, &["urn:epc:class:lgtin:0614141.812345.L3"], false);
    pipeline.capture(vec![l3.clone()]).await;
    let (_, answer) = pipeline.get(L3).await;
    assert_eq!(answer["recalled"], true, "{answer}");
    let mut hostile = at_b(l3.clone());
    hostile["errorDeclaration"] = json!({
        "declarationTime": crate::common::at(10),
        "reason": "incorrect_data",
    });
    let _ = capture_as_b(&pipeline, &token, vec![hostile]).await;
    let (_, answer) = pipeline.get(L3).await;
    assert_eq!(answer["recalled"], true, "B withdrew A's recall: {answer}");
    let mut declaration = l3;
    declaration["errorDeclaration"] = json!({
        "declarationTime": crate::common::at(10),
        "reason": "incorrect_data",
    });
    pipeline.capture(vec![declaration]).await;
    let (_, answer) = pipeline.get(L3).await;
    assert_eq!(answer["recalled"], false, "{answer}");

    // A declaration logged before the recall it declares withdraws nothing: a party takes back
    // what it said, not what it says later.
    const L4: &str = "/01/80614141123458/10/L4";
    let l4 = class_recall(11, &["urn:epc:class:lgtin:0614141.812345.L4"], false);
    let mut early = l4.clone();
    early["errorDeclaration"] = json!({
        "declarationTime": crate::common::at(12),
        "reason": "incorrect_data",
    });
    pipeline.capture(vec![early]).await;
    pipeline.capture(vec![l4]).await;
    let (_, answer) = pipeline.get(L4).await;
    assert_eq!(answer["recalled"], true, "{answer}");
}

/// An item under no registered company prefix: the first claim of it in log order brings it
/// into being, whoever is judged to hold anything.
const UNREGISTERED: &str = "urn:epc:id:sgtin:0999999.000001.1";

/// B ships the item under no registered prefix four times from its own location (the first
/// shipping listing `first_shipped`), then commissions it: the first claim. A commissions it
/// afterwards, dated earlier, and ships it. B's event hashes and A's.
async fn claimed_first_by_b(
    pipeline: &Pipeline,
    token: &str,
    first_shipped: &[&str],
) -> (Vec<String>, Vec<String>) {
    let mut b_events: Vec<Value> = (5..9)
        .map(|minute| {
            let ids = if minute == 5 {
                first_shipped
            } else {
                &[UNREGISTERED][..]
            };
            let mut shipping = at_b(object(minute, "OBSERVE", ids, "shipping"));
            shipping["destinationList"] = json!([{"type": "location", "destination": LOCATION}]);
            shipping
        })
        .collect();
    b_events.push(at_b(object(10, "ADD", &[UNREGISTERED], "commissioning")));
    let (status, body) = capture_as_b(pipeline, token, b_events).await;
    assert_eq!(status, 202, "{body}");
    let a = pipeline
        .capture(vec![
            object(1, "ADD", &[UNREGISTERED], "commissioning"),
            object(20, "OBSERVE", &[UNREGISTERED], "shipping"),
        ])
        .await;
    (receipt_hashes(&body), a)
}

/// B ships an item under no registered prefix four times from its own location (refused:
/// nobody holds it yet), then commissions it: the first claim, which brings the item into being
/// as B's. A commissions it afterwards, dated earlier, and ships it. A history or bundle of 4
/// events shares the state changes out by reporter, 2 each, and so leaves B's claim out; it
/// still reads it, found as a claim from the lookups' tags (written by ingest's indexer, read
/// from the store), and judges A's commissioning as the whole log does: refused, the item B's.
/// The bundle's story and marks verify. With left-out claims not read, B's claim is missing
/// from the history and the test fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_claim_a_share_left_out_still_decides_who_brought_an_item_into_being() {
    let pipeline = Pipeline::start(|config| {
        config.limits.max_history_events = 4;
        config.limits.max_bundle_events = 4;
    })
    .await;
    let token = register_b(&pipeline).await;
    let (b, a) = claimed_first_by_b(&pipeline, &token, &[UNREGISTERED]).await;

    let (history, listed) = history_of(&pipeline, UNREGISTERED).await;
    // B's claim, left out by B's share, is read and decides.
    assert!(listed.contains(&b[4]), "{history}");
    assert_eq!(
        authority_of(&history, &b[4])["kind"],
        "authorised",
        "{history}"
    );
    let refused = authority_of(&history, &a[0]);
    assert_eq!(refused["kind"], "unauthorised", "{history}");
    assert!(
        refused["reason"].as_str().unwrap().contains(&format!(
            "{UNREGISTERED} was brought into being by rival first"
        )),
        "{history}"
    );
    // Four events shown: B's claim, which must stay, and a share of the rest (A's
    // commissioning, B's first two shipments); B's other two shipments and A's shipping
    // (refused: the item is B's) counted.
    assert_eq!(listed.len(), 4, "{history}");
    assert!(
        listed.contains(&a[0]) && !listed.contains(&a[1]),
        "{history}"
    );
    assert_eq!(
        history["omitted"],
        json!([{"reportedBy": "rival", "events": 2}, {"reportedBy": SITE, "events": 1}]),
        "{history}"
    );
    // The bundle holds the same, and a verifier judging it alone agrees with every mark.
    let (bundle, bundled, body) = bundle_of(&pipeline, UNREGISTERED).await;
    assert_eq!(bundled, listed, "{body}");
    story_and_authority_verified(&pipeline, &bundle);
    pipeline.stop().await;
}

/// A packs an item under no registered prefix into 30 fresh cases of its own (each a claim of
/// its case, none of the item, and refused: nobody holds the item yet); B ships the item four
/// times and then commissions it, the first claim; A commissions it later, dated earlier, and
/// ships it. Through ingest's indexer and trace-api's reader, from the lookups' tags as well as
/// from a scan of entries they do not cover yet, a history and a bundle of 4 read B's claim,
/// left out by B's share, and show it authorised, as the whole log does (A's claim, read and
/// refused, is counted); the bundle's story and marks verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_packings_into_fresh_cases_leaves_the_first_claim_read() {
    a_packing_flood_leaves_the_first_claim_read(false).await;
}

/// As [`a_flood_of_packings_into_fresh_cases_leaves_the_first_claim_read`], and B's first
/// shipping lists a sibling item nobody claimed: every left-out packing of A's could then be
/// the first claim of an identifier the history did not ask about, and may be read again
/// within the shares; B's claim is still read, and the answer is the same. (A guard: B's run
/// is short, and the share keeps it whole with or without the ranking of A's packings.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_packings_read_again_leaves_the_first_claim_read() {
    a_packing_flood_leaves_the_first_claim_read(true).await;
}

async fn a_packing_flood_leaves_the_first_claim_read(sibling: bool) {
    const SIBLING: &str = "urn:epc:id:sgtin:0999999.000001.2";
    let pipeline = Pipeline::start(|config| {
        config.limits.max_history_events = 4;
        config.limits.max_bundle_events = 4;
    })
    .await;
    let token = register_b(&pipeline).await;
    let packings = (0..30)
        .map(|n| {
            let case = format!("urn:epc:id:sscc:0999999.{:010}", 100 + n);
            aggregation(0, "ADD", &case, &[UNREGISTERED])
        })
        .collect();
    let flood = pipeline.capture(packings).await;
    assert_eq!(flood.len(), 30);
    let shipped: &[&str] = match sibling {
        true => &[UNREGISTERED, SIBLING],
        false => &[UNREGISTERED],
    };
    let (b, a) = claimed_first_by_b(&pipeline, &token, shipped).await;
    for indexed in [false, true] {
        if indexed {
            pipeline.wait_for_index(37).await;
        }
        // Each party's first two state changes, and B's claim; A's claim counted with the rest
        // of A's (its 28 other packings and its shipping).
        let (history, listed) = history_of(&pipeline, UNREGISTERED).await;
        assert_eq!(
            listed,
            [&flood[0], &flood[1], &b[0], &b[4]].map(String::as_str),
            "indexed: {indexed}: {history}"
        );
        assert_eq!(authority_of(&history, &b[4])["kind"], "authorised");
        assert!(!listed.contains(&a[0]));
        assert_eq!(
            history["omitted"],
            json!([{"reportedBy": "rival", "events": 3}, {"reportedBy": SITE, "events": 30}]),
            "{history}"
        );
        let (bundle, bundled, body) = bundle_of(&pipeline, UNREGISTERED).await;
        assert_eq!(bundled, listed, "{body}");
        story_and_authority_verified(&pipeline, &bundle);
    }
    pipeline.stop().await;
}
