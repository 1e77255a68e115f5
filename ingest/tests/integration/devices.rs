//! Device authentication and site authorisation: signed batch statements verified against the
//! registered key, and locations checked against the device's site. Every refusal stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

use std::sync::Arc;

use capture_client::{CaptureClient, Credential, DeviceSigner};
use common::{TestApp, blocking, capture, cli_hashes, document, receipts};
use ledger::batch::{BatchStatement, DeviceSigningKey, EventBatch};
use ledger::record::{Attestation, LeafRecord};
use ledger::{DeviceId, UnixMillis};

const DOCK: &str = "urn:epc:id:sgln:0614141.00777.dock-1";
const STORE: &str = "urn:epc:id:sgln:0614141.00777.0";
const OTHER_SITE: &str = "urn:epc:id:sgln:0614141.00888.0";

async fn post_with(
    client: &Arc<CaptureClient>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> capture_client::Reply {
    let client = client.clone();
    blocking(move || {
        let mut all = vec![("Content-Type", "application/json".to_owned())];
        all.extend(headers);
        client.post_raw("/capture", &all, &body).unwrap()
    })
    .await
}

fn hashes_of(document: &[u8]) -> Vec<epcis::EventHash> {
    cli_hashes(document)
        .iter()
        .map(|uri| epcis::EventHash::parse_ni(uri).unwrap())
        .collect()
}

fn signed_headers(
    statement: &BatchStatement,
    key: &DeviceSigningKey,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "TagTrail-Batch-Statement",
            ingest::auth::statement_header_value(statement),
        ),
        (
            "TagTrail-Batch-Signature",
            ingest::auth::signature_header_value(&statement.sign(key)),
        ),
    ]
}

fn statement_over(device: &str, hashes: &[epcis::EventHash]) -> BatchStatement {
    EventBatch::new(hashes).unwrap().statement(
        DeviceId::parse(device).unwrap(),
        UnixMillis::from_millis(1_700_000_000_000),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_signed_capture_is_stored_with_its_attestation() {
    let mut app = TestApp::spawn().await;
    let site = app.site("warehouse-1", &[DOCK, STORE]).await;
    let signer = app.device("dock-door-1", &site, 1, &[]).await;
    let client = app.client(Credential::Device(signer));
    let body = document(&[1, 2, 3], DOCK);
    let reply = capture(&client, body.clone(), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        receipts(&reply)
            .iter()
            .map(|r| r.1.clone())
            .collect::<Vec<_>>(),
        cli_hashes(&body)
    );

    // Each leaf record names the device, the statement it signed and the event's place in it.
    let records = ledger_store::testing::stored_leaf_records(&app.admin).await;
    assert_eq!(records.len(), 3);
    let batch = app
        .admin
        .query_one("SELECT statement_hash, statement FROM device_batches", &[])
        .await
        .unwrap();
    let statement_hash: Vec<u8> = batch.get(0);
    let statement = BatchStatement::decode(&batch.get::<_, Vec<u8>>(1)).unwrap();
    assert_eq!(statement.device().as_str(), "dock-door-1");
    for (index, stored) in records.iter().enumerate() {
        let record = LeafRecord::decode(stored).unwrap();
        match record.attestation() {
            Attestation::Device {
                device,
                statement,
                index: at,
            } => {
                assert_eq!(device.as_str(), "dock-door-1");
                assert_eq!(statement.as_bytes().as_slice(), statement_hash.as_slice());
                assert_eq!(*at as usize, index);
            }
            other => panic!("expected a device attestation, got {other:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_disabled_and_wrongly_signing_devices_are_refused_with_401() {
    let mut app = TestApp::spawn().await;
    let site = app.site("warehouse-1", &[DOCK]).await;
    let _registered = app.device("dock-door-1", &site, 1, &[]).await;
    let client = app.client(Credential::Token(String::new()));
    let body = document(&[1, 2], DOCK);
    let hashes = hashes_of(&body);
    let before = app.counts().await;

    // Unknown device.
    let stranger = statement_over("dock-door-9", &hashes);
    let reply = post_with(
        &client,
        signed_headers(&stranger, &DeviceSigningKey::from_seed(&[9; 32])),
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "deviceUnknown");

    // The registered device's statement signed with another key.
    let statement = statement_over("dock-door-1", &hashes);
    let reply = post_with(
        &client,
        signed_headers(&statement, &DeviceSigningKey::from_seed(&[2; 32])),
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "signature");

    // A signature over another statement (a different sequence number).
    let mut headers = signed_headers(&statement, &DeviceSigningKey::from_seed(&[1; 32]));
    let other = EventBatch::new(&hashes).unwrap().statement(
        DeviceId::parse("dock-door-1").unwrap(),
        UnixMillis::from_millis(1_700_000_000_000),
        2,
    );
    headers[0].1 = ingest::auth::statement_header_value(&other);
    let reply = post_with(&client, headers, body.clone()).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "signature");

    // Disabled: the right signature no longer helps; enabled again, it does.
    let device = DeviceId::parse("dock-door-1").unwrap();
    registry::set_device_status(&app.admin, &device, registry::DeviceStatus::Disabled)
        .await
        .unwrap();
    let good = signed_headers(&statement, &DeviceSigningKey::from_seed(&[1; 32]));
    let reply = post_with(&client, good.clone(), body.clone()).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "deviceDisabled");
    assert_eq!(app.counts().await, before);

    registry::set_device_status(&app.admin, &device, registry::DeviceStatus::Active)
        .await
        .unwrap();
    let reply = post_with(&client, good, body).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_statement_that_does_not_match_the_document_is_refused_with_401() {
    let mut app = TestApp::spawn().await;
    let site = app.site("warehouse-1", &[DOCK]).await;
    let _registered = app.device("dock-door-1", &site, 1, &[]).await;
    let client = app.client(Credential::Token(String::new()));
    let key = DeviceSigningKey::from_seed(&[1; 32]);
    let body = document(&[1, 2, 3], DOCK);
    let hashes = hashes_of(&body);
    let before = app.counts().await;

    // Signed over the events in another order: same size, another root.
    let mut swapped = hashes.clone();
    swapped.swap(0, 1);
    let reply = post_with(
        &client,
        signed_headers(&statement_over("dock-door-1", &swapped), &key),
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "batchRoot");

    // Signed over two of the three events.
    let reply = post_with(
        &client,
        signed_headers(&statement_over("dock-door-1", &hashes[..2]), &key),
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "batchSize");

    // A signed document whose event was changed afterwards.
    let mut tampered: serde_json::Value = serde_json::from_slice(&body).unwrap();
    tampered["epcisBody"]["eventList"][2]["bizStep"] = "shipping".into();
    let reply = post_with(
        &client,
        signed_headers(&statement_over("dock-door-1", &hashes), &key),
        serde_json::to_vec(&tampered).unwrap(),
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "batchRoot");

    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_report_for_another_site() {
    let mut app = TestApp::spawn().await;
    let site = app.site("warehouse-1", &[DOCK, STORE]).await;
    let _other = app.site("warehouse-2", &[OTHER_SITE]).await;
    let signer = app.device("dock-door-1", &site, 1, &[]).await;
    let client = app.client(Credential::Device(signer));
    let before = app.counts().await;

    let mut value: serde_json::Value = serde_json::from_slice(&document(&[1, 2, 3], DOCK)).unwrap();
    value["epcisBody"]["eventList"][2]["readPoint"]["id"] = OTHER_SITE.into();
    let reply = capture(&client, serde_json::to_vec(&value).unwrap(), true).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.body["type"], "epcisException:SecurityException");
    let violations = reply.body["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{}", reply.body);
    assert_eq!(violations[0]["eventIndex"], 2);
    assert_eq!(
        violations[0]["pointer"],
        "/epcisBody/eventList/2/readPoint/id"
    );
    assert_eq!(violations[0]["rule"], "siteLocation");

    // A location nobody registered.
    let reply = capture(
        &client,
        document(&[4], "urn:epc:id:sgln:0614141.00999.0"),
        false,
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(
        reply.body["violations"].as_array().unwrap().len(),
        2,
        "readPoint and bizLocation"
    );

    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_device_speaks_only_for_its_own_locations() {
    let mut app = TestApp::spawn().await;
    let site = app.site("warehouse-1", &[DOCK, STORE]).await;
    let signer = app.device("dock-door-1", &site, 1, &[DOCK]).await;
    let client = app.client(Credential::Device(signer));
    let before = app.counts().await;
    let reply = capture(&client, document(&[1], STORE), false).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(app.counts().await, before);
    let reply = capture(&client, document(&[1], DOCK), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_taken_from_its_site_is_refused_to_the_next_capture() {
    let mut app = TestApp::spawn().await;
    let site = app.site("warehouse-1", &[DOCK, STORE]).await;
    let signer = app.device("dock-door-1", &site, 1, &[]).await;
    let client = app.client(Credential::Device(signer));
    // The same caller naming the same location twice: the second check may reuse the first's
    // answer, which was read in the same registry generation.
    for serial in [1, 2] {
        let reply = capture(&client, document(&[serial], DOCK), false).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    registry::remove_site_location(
        &mut app.admin,
        &site,
        &registry::location::SiteLocation::parse(DOCK).unwrap(),
    )
    .await
    .unwrap();
    let before = app.counts().await;
    let reply = capture(&client, document(&[3], DOCK), false).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.to_string().contains(DOCK), "{}", reply.body);
    assert_eq!(app.counts().await, before);
    // The site's other location is still its own.
    let reply = capture(&client, document(&[4], STORE), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registry_change_moves_the_generation_and_the_service_cannot() {
    let mut app = TestApp::spawn().await;
    async fn generation(client: &tokio_postgres::Client) -> i64 {
        client
            .query_one("SELECT generation FROM registry_generation", &[])
            .await
            .unwrap()
            .get(0)
    }
    let mut last = generation(&app.admin).await;
    let mut moved = |now: i64, what: &str| {
        assert!(now > last, "{what} left the generation at {now}");
        last = now;
    };
    let site = app.site("warehouse-1", &[DOCK, STORE]).await;
    moved(generation(&app.admin).await, "adding a site");
    let _signer = app.device("dock-door-1", &site, 1, &[DOCK]).await;
    moved(generation(&app.admin).await, "adding a device");
    let device = DeviceId::parse("dock-door-1").unwrap();
    registry::set_device_status(&app.admin, &device, registry::DeviceStatus::Disabled)
        .await
        .unwrap();
    moved(generation(&app.admin).await, "disabling a device");
    registry::rekey_device(
        &mut app.admin,
        &device,
        &DeviceSigningKey::from_seed(&[9; 32]).public_key(),
    )
    .await
    .unwrap();
    moved(generation(&app.admin).await, "re-keying a device");
    let _token = app.token(&site).await;
    moved(generation(&app.admin).await, "creating a token");
    registry::remove_site_location(
        &mut app.admin,
        &site,
        &registry::location::SiteLocation::parse(STORE).unwrap(),
    )
    .await
    .unwrap();
    moved(generation(&app.admin).await, "removing a location");
    // Any statement changing a registry table counts (a statement trigger on each), even one
    // that changes no row.
    for table in [
        "sites",
        "site_locations",
        "devices",
        "device_keys",
        "device_status_changes",
        "device_locations",
        "site_tokens",
        "site_token_revocations",
    ] {
        app.admin
            .execute(
                &format!("INSERT INTO {table} SELECT * FROM {table} WHERE false"),
                &[],
            )
            .await
            .unwrap();
        moved(generation(&app.admin).await, table);
    }
    // The service role reads the generation and cannot move it.
    let url = app
        .db
        .login_role(common::SERVICE_ROLE, "tagtrail_ingest")
        .await
        .unwrap();
    let (service, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let read: i64 = service
        .query_one("SELECT generation FROM registry_generation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(read, last);
    let refused = service
        .execute("UPDATE registry_generation SET generation = 0", &[])
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_pattern_covers_every_extension_of_its_gln_in_either_spelling() {
    let mut app = TestApp::spawn().await;
    let site = app
        .site("warehouse-1", &["urn:epc:idpat:sgln:0614141.00777.*"])
        .await;
    let signer = app.device("dock-door-1", &site, 1, &[]).await;
    let client = app.client(Credential::Device(signer));
    for location in [
        DOCK,
        STORE,
        "https://id.gs1.org/414/0614141007776/254/bay-7",
    ] {
        let reply = capture(&client, document(&[location.len() as u64], location), false).await;
        assert_eq!(reply.status, 202, "{location}: {}", reply.body);
    }
    let reply = capture(&client, document(&[99], OTHER_SITE), false).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rekeyed_device_must_sign_with_its_new_key() {
    let mut app = TestApp::spawn().await;
    let site = app.site("warehouse-1", &[DOCK]).await;
    let _old = app.device("dock-door-1", &site, 1, &[]).await;
    let device = DeviceId::parse("dock-door-1").unwrap();
    let new_key = DeviceSigningKey::from_seed(&[5; 32]);
    registry::rekey_device(&mut app.admin, &device, &new_key.public_key())
        .await
        .unwrap();
    let old = app.client(Credential::Device(DeviceSigner::new(
        device.clone(),
        DeviceSigningKey::from_seed(&[1; 32]),
    )));
    let reply = capture(&old, document(&[1], DOCK), false).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    let new = app.client(Credential::Device(DeviceSigner::new(device, new_key)));
    let reply = capture(&new, document(&[1], DOCK), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);

    // A key cannot be given to a second device.
    let taken = registry::add_device(
        &mut app.admin,
        &DeviceId::parse("dock-door-2").unwrap(),
        &site,
        &DeviceSigningKey::from_seed(&[5; 32]).public_key(),
        &[],
    )
    .await;
    assert!(
        matches!(taken, Err(registry::RegistryError::KeyInUse(_))),
        "{taken:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_events_from_a_device_are_not_appended_twice() {
    let mut app = TestApp::spawn().await;
    let site = app.site("warehouse-1", &[DOCK]).await;
    let signer = app.device("dock-door-1", &site, 1, &[]).await;
    let client = app.client(Credential::Device(signer));
    let first = capture(&client, document(&[1, 2], DOCK), false).await;
    // A retry signs a new statement (another sequence number) over the same events.
    let retry = capture(&client, document(&[1, 2], DOCK), false).await;
    assert_eq!(retry.status, 202, "{}", retry.body);
    assert_eq!(retry.body["appended"], 0);
    assert_eq!(
        receipts(&first).iter().map(|r| r.2).collect::<Vec<_>>(),
        receipts(&retry).iter().map(|r| r.2).collect::<Vec<_>>()
    );
    assert_eq!(app.counts().await[..2], [2, 1]);
    app.stop().await;
}
