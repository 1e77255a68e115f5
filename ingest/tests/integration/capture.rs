//! The capture interface with site API tokens, against a real PostgreSQL: receipts, capture
//! jobs, rollback and proceed, duplicates, limits and refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

use std::collections::HashMap;
use std::path::PathBuf;

use capture_client::Credential;
use common::{TestApp, blocking, capture, cli_hashes, document, get, receipts};

const HERE: &str = "urn:epc:id:sgln:0614141.00777.0";

fn examples() -> Vec<PathBuf> {
    ledger_store::testing::testdata_documents("gs1-epcis/examples")
}

/// Every readPoint and bizLocation id of a document.
fn locations_of(document: &serde_json::Value) -> Vec<String> {
    let body = &document["epcisBody"];
    let events = body["eventList"]
        .as_array()
        .or_else(|| body["queryResults"]["resultsBody"]["eventList"].as_array())
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for event in events {
        for field in ["readPoint", "bizLocation"] {
            if let Some(id) = event[field]["id"].as_str() {
                out.push(id.to_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_official_example_is_captured_with_receipts_matching_the_cli_hashes() {
    let files = examples();
    assert!(
        files.len() >= 40,
        "expected the GS1 examples, found {}",
        files.len()
    );
    let mut locations: Vec<String> = Vec::new();
    for file in &files {
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        locations.extend(locations_of(&value));
    }
    locations.sort();
    locations.dedup();
    let mut app = TestApp::spawn().await;
    let location_refs: Vec<&str> = locations.iter().map(String::as_str).collect();
    let site = app.site("gs1-examples", &location_refs).await;
    let client = app.client(Credential::Token(app.token(&site).await));

    // Events by hash, and error declarations by the hash of the event they declare.
    let mut leaf_of: HashMap<String, u64> = HashMap::new();
    let mut declaration_of: HashMap<String, u64> = HashMap::new();
    let mut next_leaf = 0;
    let mut declared_9_6_1 = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let expected = cli_hashes(&bytes);
        let reply = capture(&client, bytes, false).await;
        assert_eq!(reply.status, 202, "{}: {}", file.display(), reply.body);
        let got = receipts(&reply);
        assert_eq!(got.len(), expected.len(), "{}", file.display());
        for (((index, hash, leaf, duplicate), (position, expected)), receipt) in got
            .iter()
            .zip(expected.iter().enumerate())
            .zip(reply.body["receipts"].as_array().unwrap())
        {
            assert_eq!(*index, position);
            assert_eq!(hash, expected, "{} event {index}", file.display());
            let seen = match receipt.get("declaresErroneous") {
                // A declaration names the entry of the event it corrects, if captured earlier
                // (`null` if not: several examples declare events no example holds).
                Some(declares) => {
                    assert_eq!(
                        declares.as_u64(),
                        leaf_of.get(hash).copied(),
                        "{} event {index}",
                        file.display()
                    );
                    if file.ends_with(DECLARING_9_6_1) {
                        assert!(declares.is_u64(), "{}: {receipt}", file.display());
                        declared_9_6_1 += 1;
                    }
                    &mut declaration_of
                }
                None => &mut leaf_of,
            };
            match seen.get(hash) {
                // The same event in another example (or twice in one): its first receipt.
                Some(first) => {
                    assert_eq!(leaf, first, "{} event {index}", file.display());
                    assert!(duplicate);
                }
                None => {
                    assert_eq!(*leaf, next_leaf, "{} event {index}", file.display());
                    assert!(!duplicate);
                    seen.insert(hash.clone(), *leaf);
                    next_leaf += 1;
                }
            }
        }
    }
    // The declaration of Example_9.6.1 names its original (checked above); every declaration of a
    // held event was stored and logged after it.
    assert_eq!(declared_9_6_1, 1);
    let declared: Vec<_> = declaration_of
        .iter()
        .filter_map(|(hash, declaration)| leaf_of.get(hash).map(|event| (*event, *declaration)))
        .collect();
    assert!(declared.len() >= 2, "{declaration_of:?}");
    assert!(
        declared
            .iter()
            .all(|(event, declaration)| event < declaration)
    );
    // What is stored is what the receipts say: the event hash at each leaf, and a declaration row
    // linking each declaration to the event it declares.
    let rows = app
        .admin
        .query(
            "SELECT e.leaf_index, coalesce(d.event_hash, e.event_hash), d.declared_leaf,
                    d.declaration_leaf IS NOT NULL
             FROM events e LEFT JOIN error_declarations d ON d.declaration_leaf = e.leaf_index
             ORDER BY e.leaf_index",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len() as u64, next_leaf);
    for row in rows {
        let leaf: i64 = row.get(0);
        let hash: Vec<u8> = row.get(1);
        let declared: Option<i64> = row.get(2);
        let is_declaration: bool = row.get(3);
        let hash = epcis::EventHash::from_bytes(hash.try_into().unwrap()).to_ni_uri();
        if is_declaration {
            assert_eq!(declaration_of[&hash], leaf as u64);
            let held = leaf_of
                .get(&hash)
                .copied()
                .filter(|event| *event < leaf as u64);
            assert_eq!(held, declared.map(|declared| declared as u64));
        } else {
            assert_eq!(leaf_of[&hash], leaf as u64);
        }
    }
    app.stop().await;
}

/// The official example declaring the events of `Example_9.6.1-ObjectEvent.jsonld` erroneous.
const DECLARING_9_6_1: &str =
    "WithErrorDeclaration/Example_9.6.1-ObjectEvent-with-error-declaration.jsonld";
/// The official example of a declaration with its corrective event, whose declared event no
/// example holds.
const CORRECTION: &str = "WithErrorDeclaration/ErrorDeclarationAndCorrectiveEvent.jsonld";

/// The rule for a declaration of an event the ledger does not hold: it is stored and logged as an
/// entry of its own (never lost), its receipt says `declaresErroneous: null`, and the event, if it
/// comes later, is a new entry that readers find the declaration of by its hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declaration_of_an_event_not_captured_is_stored_and_kept_when_the_event_comes() {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "testdata",
        "gs1-epcis",
        "examples",
        CORRECTION,
    ]
    .iter()
    .collect();
    let bytes = std::fs::read(&path).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut app = TestApp::spawn().await;
    let locations = locations_of(&value);
    let location_refs: Vec<&str> = locations.iter().map(String::as_str).collect();
    let site = app.site("corrections", &location_refs).await;
    let client = app.client(Credential::Token(app.token(&site).await));

    // The declaration and its corrective event: both stored, the declaration of an unheld event.
    let reply = capture(&client, bytes.clone(), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = receipts(&reply);
    assert_eq!(
        got.iter().map(|r| (r.2, r.3)).collect::<Vec<_>>(),
        [(0, false), (1, false)]
    );
    assert_eq!(
        reply.body["receipts"][0]["declaresErroneous"],
        serde_json::Value::Null
    );
    assert!(reply.body["receipts"][0].get("declaresErroneous").is_some());
    assert!(reply.body["receipts"][1].get("declaresErroneous").is_none());
    let declared_hash = got[0].1.clone();

    // The declared event itself (the declaration taken out) comes later: a new entry.
    let mut original = value.clone();
    original["epcisBody"]["eventList"][0]
        .as_object_mut()
        .unwrap()
        .remove("errorDeclaration");
    original["epcisBody"]["eventList"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    let reply = capture(&client, serde_json::to_vec(&original).unwrap(), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(receipts(&reply), [(0, declared_hash.clone(), 2, false)]);
    assert!(reply.body["receipts"][0].get("declaresErroneous").is_none());

    // The same document again: nothing appended, and the answer and the job read back say what
    // the declaration declared when it was stored.
    let again = capture(&client, bytes, false).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(receipts(&again)[0], (0, declared_hash, 0, true));
    assert_eq!(
        again.body["receipts"][0]["declaresErroneous"],
        serde_json::Value::Null
    );
    let job = get(&client, again.location.as_deref().unwrap()).await;
    assert_eq!(
        job.body["receipts"],
        again.body["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("duplicate");
                r
            })
            .collect::<serde_json::Value>()
    );
    assert_eq!(stored_events(&app).await, 3);
    app.stop().await;
}

async fn stored_events(app: &TestApp) -> i64 {
    app.admin
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_is_answered_with_its_job_which_can_be_read_back() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let bytes = document(&[1, 2, 3], HERE);
    let reply = capture(&client, bytes.clone(), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let location = reply.location.clone().unwrap();
    assert_eq!(
        location,
        format!("/capture/{}", reply.body["captureID"].as_str().unwrap())
    );
    assert_eq!(reply.body["success"], true);
    assert_eq!(reply.body["running"], false);
    assert_eq!(reply.body["captureErrorBehaviour"], "rollback");
    assert_eq!(reply.body["appended"], 3);
    let expected = cli_hashes(&bytes);
    let posted = receipts(&reply);
    assert_eq!(
        posted.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        posted.iter().map(|r| r.2).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );

    let job = get(&client, &location).await;
    assert_eq!(job.status, 200, "{}", job.body);
    assert_eq!(job.body["captureID"], reply.body["captureID"]);
    let read = receipts(&job);
    assert_eq!(
        read.iter()
            .map(|r| (r.0, r.1.clone(), r.2))
            .collect::<Vec<_>>(),
        posted
            .iter()
            .map(|r| (r.0, r.1.clone(), r.2))
            .collect::<Vec<_>>()
    );

    let list = get(&client, "/capture").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["captureID"], reply.body["captureID"]);

    // Another site's token sees neither the job nor it in its list.
    let other = app
        .site("site-b", &["urn:epc:id:sgln:0614141.00888.0"])
        .await;
    let stranger = app.client(Credential::Token(app.token(&other).await));
    assert_eq!(get(&stranger, &location).await.status, 404);
    assert_eq!(
        get(&stranger, "/capture")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        0
    );
    app.stop().await;
}

/// A capture job's record is sealed by ingest (a MAC under a secret derived from its checkpoint
/// key): one edited by a superuser, or written by the service role itself, is not served; the
/// other jobs are, and the refusal is logged, counted and named by readiness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_job_edited_or_forged_in_the_database_is_not_served() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let mut ids = Vec::new();
    for (tags, proceed) in [(&[1, 2][..], false), (&[3][..], false)] {
        let reply = capture(&client, document(tags, HERE), proceed).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        ids.push(reply.body["captureID"].as_str().unwrap().to_owned());
    }
    // A job with errors (proceed): its problems come back from `jsonb` reordered, and still verify.
    let mut value: serde_json::Value = serde_json::from_slice(&document(&[4, 5], HERE)).unwrap();
    value["epcisBody"]["eventList"][1]["action"] = "LOOK".into();
    let reply = capture(&client, serde_json::to_vec(&value).unwrap(), true).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["success"], false);
    let with_errors = reply.body["captureID"].as_str().unwrap().to_owned();
    let job = get(&client, &format!("/capture/{with_errors}")).await;
    assert_eq!(job.status, 200, "{}", job.body);
    assert_eq!(job.body["errors"], reply.body["errors"]);

    // A superuser points the first job's receipts at other entries (triggers bypassed).
    app.admin
        .batch_execute(&format!(
            "ALTER TABLE capture_jobs DISABLE TRIGGER capture_jobs_append_only;
             UPDATE capture_jobs SET leaf_indexes = '{{2,2}}' WHERE capture_id = '{}';
             ALTER TABLE capture_jobs ENABLE TRIGGER capture_jobs_append_only;",
            ids[0]
        ))
        .await
        .unwrap();
    // The service role writes jobs of its own: one copying a real job's seal, one without any.
    let (copied, unsealed) = ("a".repeat(32), "b".repeat(32));
    app.admin
        .batch_execute(&format!(
            "SET ROLE tagtrail_ingest;
             INSERT INTO capture_jobs (capture_id, site_id, token_id, error_behaviour, created_at,
                                       finished_at, appended, leaf_indexes, seal)
             SELECT '{copied}', site_id, token_id, error_behaviour, created_at, finished_at,
                    appended, leaf_indexes, seal
             FROM capture_jobs WHERE capture_id = '{}';
             INSERT INTO capture_jobs (capture_id, site_id, token_id, error_behaviour, created_at,
                                       finished_at, appended, leaf_indexes)
             SELECT '{unsealed}', site_id, token_id, error_behaviour, created_at, finished_at,
                    appended, leaf_indexes
             FROM capture_jobs WHERE capture_id = '{}';
             RESET ROLE;",
            ids[1], ids[1]
        ))
        .await
        .unwrap();

    for (id, reason) in [
        (&ids[0], "its seal does not match"),
        (&copied, "its seal does not match"),
        (&unsealed, "it has no seal"),
    ] {
        let job = get(&client, &format!("/capture/{id}")).await;
        assert_eq!(job.status, 500, "{id}: {}", job.body);
        assert_eq!(job.body["type"], "epcisException:ImplementationException");
        let detail = job.body["detail"].as_str().unwrap();
        assert!(detail.contains("does not verify"), "{detail}");
        assert!(detail.contains(reason), "{detail}");
        assert!(job.body.get("receipts").is_none(), "{}", job.body);
    }
    // The untouched jobs are served; the list leaves the others out.
    assert_eq!(
        get(&client, &format!("/capture/{}", ids[1])).await.status,
        200
    );
    let list = get(&client, "/capture").await;
    assert_eq!(list.status, 200);
    let mut listed: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["captureID"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected = vec![ids[1].as_str(), with_errors.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected);

    // Readiness names them (the service still takes captures); the metric counts each refusal.
    let ready = get(&client, "/health/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let mut named: Vec<&str> = ready.body["refusedEvidence"]["captureJobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    named.sort_unstable();
    let mut refused = vec![ids[0].as_str(), copied.as_str(), unsealed.as_str()];
    refused.sort_unstable();
    assert_eq!(named, refused);
    let metrics = blocking({
        let url = format!("{}/metrics", app.address);
        move || {
            ureq::get(&url)
                .call()
                .unwrap()
                .body_mut()
                .read_to_string()
                .unwrap()
        }
    })
    .await;
    let count: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("ingest_capture_jobs_refused_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        count, 6,
        "3 refused reading them one by one, 3 left out of the list"
    );
    let reply = capture(&client, document(&[6], HERE), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_invalid_event_rejects_the_whole_document_by_default() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let mut value: serde_json::Value = serde_json::from_slice(&document(&[1, 2, 3], HERE)).unwrap();
    value["epcisBody"]["eventList"][1]["action"] = "LOOK".into();
    let before = app.counts().await;
    let reply = capture(&client, serde_json::to_vec(&value).unwrap(), false).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["type"], "epcisException:ValidationException");
    let violation = &reply.body["violations"][0];
    assert_eq!(violation["eventIndex"], 1);
    assert_eq!(violation["pointer"], "/epcisBody/eventList/1/action");
    assert_eq!(violation["rule"], "enum");
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

/// A standard term in another spelling the event hash reads as its bare word (a compact IRI,
/// under the standard context or under a prefix the document declares, or the Web URI) is
/// refused with the word to write, and nothing is stored: every reader of the log then reads a
/// term one way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_term_is_taken_only_as_its_bare_word() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let spellings = [
        ("cbv:BizStep-receiving", None),
        ("g:BizStep-receiving", Some("https://ref.gs1.org/cbv/")),
        ("step:receiving", Some("https://ref.gs1.org/cbv/BizStep-")),
        ("https://ref.gs1.org/cbv/BizStep-receiving", None),
    ];
    for (spelled, prefix) in spellings {
        let mut value: serde_json::Value =
            serde_json::from_slice(&document(&[1, 2], HERE)).unwrap();
        if let Some(iri) = prefix {
            let name = spelled.split(':').next().unwrap();
            let mut declared = serde_json::Map::new();
            declared.insert(name.to_owned(), iri.into());
            value["@context"]
                .as_array_mut()
                .unwrap()
                .push(declared.into());
        }
        value["epcisBody"]["eventList"][1]["bizStep"] = spelled.into();
        let before = app.counts().await;
        let reply = capture(&client, serde_json::to_vec(&value).unwrap(), false).await;
        assert_eq!(reply.status, 400, "{spelled}: {}", reply.body);
        let violation = &reply.body["violations"][0];
        assert_eq!(violation["pointer"], "/epcisBody/eventList/1/bizStep");
        assert_eq!(violation["rule"], "spelling", "{}", reply.body);
        assert!(
            violation["message"]
                .as_str()
                .unwrap()
                .ends_with("write the bare word \"receiving\""),
            "{}",
            reply.body
        );
        assert_eq!(app.counts().await, before);
    }
    // Nor may a document give `cbv` another IRI, under which that spelling hashes as a private
    // term that readers taking `cbv:` as the CBV's would read as a receipt.
    let mut value: serde_json::Value = serde_json::from_slice(&document(&[1, 2], HERE)).unwrap();
    value["@context"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"cbv": "https://example.org/"}));
    value["epcisBody"]["eventList"][1]["bizStep"] = "cbv:BizStep-receiving".into();
    let before = app.counts().await;
    let reply = capture(&client, serde_json::to_vec(&value).unwrap(), false).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let violation = &reply.body["violations"][0];
    assert_eq!(violation["pointer"], "/@context/1/cbv", "{}", reply.body);
    assert_eq!(violation["rule"], "spelling", "{}", reply.body);
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_concurrent_captures_are_each_recorded_as_answered() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let by_token = app.client(Credential::Token(app.token(&site).await));
    let signer = app.device("door-1", &site, 1, &[]).await;
    let by_device = app.client(Credential::Device(signer));
    // Captures finishing together have their jobs written by one statement: token and device
    // callers mixed, some events repeated (duplicates) across captures.
    let mut tasks = Vec::new();
    for k in 0..24u64 {
        let client = if k % 2 == 0 {
            by_token.clone()
        } else {
            by_device.clone()
        };
        let serials: Vec<u64> = (0..1 + k % 5).map(|i| 1000 * (k % 7) + i).collect();
        tasks.push(tokio::spawn(async move {
            capture(&client, document(&serials, HERE), false).await
        }));
    }
    let mut answered = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 202, "{}", reply.body);
        answered.push(reply);
    }
    let mut ids: Vec<&str> = answered
        .iter()
        .map(|reply| reply.body["captureID"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 24);
    for reply in &answered {
        let job = get(&by_token, reply.location.as_deref().unwrap()).await;
        assert_eq!(job.status, 200, "{}", job.body);
        assert_eq!(job.body["captureID"], reply.body["captureID"]);
        assert_eq!(job.body["appended"], reply.body["appended"]);
        let read: Vec<(usize, String, u64)> = receipts(&job)
            .into_iter()
            .map(|r| (r.0, r.1, r.2))
            .collect();
        let posted: Vec<(usize, String, u64)> = receipts(reply)
            .into_iter()
            .map(|r| (r.0, r.1, r.2))
            .collect();
        assert_eq!(read, posted);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proceed_stores_the_valid_events_and_reports_the_others() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let bytes = document(&[1, 2, 3], HERE);
    let expected = cli_hashes(&bytes);
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    value["epcisBody"]["eventList"][1]["action"] = "LOOK".into();
    let reply = capture(&client, serde_json::to_vec(&value).unwrap(), true).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["success"], false);
    assert_eq!(reply.body["captureErrorBehaviour"], "proceed");
    let stored = receipts(&reply);
    assert_eq!(stored.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 2]);
    assert_eq!(stored[0].1, expected[0]);
    assert_eq!(stored[1].1, expected[2]);
    let errors = reply.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["violations"][0]["eventIndex"], 1);
    assert_eq!(
        errors[0]["violations"][0]["pointer"],
        "/epcisBody/eventList/1/action"
    );
    assert_eq!(app.counts().await[0], 2);

    // The job read back says the same.
    let job = get(&client, reply.location.as_deref().unwrap()).await;
    assert_eq!(job.body["success"], false);
    assert_eq!(job.body["errors"][0]["violations"][0]["eventIndex"], 1);
    assert_eq!(
        receipts(&job).iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![0, 2]
    );

    // With nothing valid, proceed stores nothing either.
    let mut all_bad = value.clone();
    all_bad["epcisBody"]["eventList"] = serde_json::json!([value["epcisBody"]["eventList"][1]]);
    let before = app.counts().await;
    let reply = capture(&client, serde_json::to_vec(&all_bad).unwrap(), true).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_a_document_appends_nothing_and_returns_the_same_receipts() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let first = capture(&client, document(&[1, 2, 3], HERE), false).await;
    assert_eq!(first.status, 202);
    let events_after_first = app.counts().await[0];
    let again = capture(&client, document(&[1, 2, 3], HERE), false).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body["appended"], 0);
    let (a, b) = (receipts(&first), receipts(&again));
    assert_eq!(
        a.iter().map(|r| (r.1.clone(), r.2)).collect::<Vec<_>>(),
        b.iter().map(|r| (r.1.clone(), r.2)).collect::<Vec<_>>()
    );
    assert!(
        b.iter().all(|r| r.3),
        "every event is reported as a duplicate"
    );
    assert_eq!(app.counts().await[0], events_after_first);

    // A document mixing old and new events appends only the new ones, and an event repeated
    // within one document is stored once.
    let mixed = capture(&client, document(&[3, 4, 4], HERE), false).await;
    assert_eq!(mixed.status, 202, "{}", mixed.body);
    let r = receipts(&mixed);
    assert_eq!(r[0].2, a[2].2);
    assert_eq!(r[1].2, 3);
    assert_eq!(r[2].2, 3);
    assert_eq!(mixed.body["appended"], 1);
    assert_eq!(app.counts().await[0], 4);

    // Once the lookup tables cover the events (the indexer trails the append), a resend is
    // still recognised.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let indexed: i64 = app
            .admin
            .query_one("SELECT indexed_size FROM index_watermark", &[])
            .await
            .unwrap()
            .get(0);
        if indexed >= 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the indexer did not catch up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let late = capture(&client, document(&[1, 2, 3, 4], HERE), false).await;
    assert_eq!(late.status, 202, "{}", late.body);
    assert_eq!(late.body["appended"], 0, "{}", late.body);
    assert_eq!(
        receipts(&late).iter().map(|r| r.2).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(app.counts().await[0], 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_over_a_limit_are_refused_with_413_and_store_nothing() {
    let mut app = TestApp::spawn_with(|config| {
        config.limits.max_body_bytes = 4_000;
        config.limits.max_events_per_document = 5;
        config.limits.max_epcs_per_event = 2;
        config.limits.max_event_bytes = 1_000;
    })
    .await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let before = app.counts().await;

    let too_many = capture(&client, document(&[1, 2, 3, 4, 5, 6], HERE), false).await;
    assert_eq!(too_many.status, 413, "{}", too_many.body);
    assert_eq!(
        too_many.body["type"],
        "epcisException:CaptureLimitExceededException"
    );
    assert_eq!(too_many.body["violations"][0]["rule"], "maxEvents");

    let big = capture(&client, document(&(0..20).collect::<Vec<_>>(), HERE), false).await;
    assert_eq!(big.status, 413, "{}", big.body);
    assert_eq!(big.body["violations"][0]["rule"], "maxBodyBytes");

    let mut value: serde_json::Value = serde_json::from_slice(&document(&[1], HERE)).unwrap();
    value["epcisBody"]["eventList"][0]["epcList"] = serde_json::json!([
        "urn:epc:id:sgtin:0614141.107346.1",
        "urn:epc:id:sgtin:0614141.107346.2",
        "urn:epc:id:sgtin:0614141.107346.3"
    ]);
    let many_epcs = capture(&client, serde_json::to_vec(&value).unwrap(), false).await;
    assert_eq!(many_epcs.status, 413, "{}", many_epcs.body);
    assert_eq!(many_epcs.body["violations"][0]["rule"], "maxEpcs");
    assert_eq!(many_epcs.body["violations"][0]["eventIndex"], 0);

    let mut value: serde_json::Value = serde_json::from_slice(&document(&[1, 2], HERE)).unwrap();
    value["epcisBody"]["eventList"][1]["example:note"] = serde_json::json!("x".repeat(1_500));
    let big_event = capture(&client, serde_json::to_vec(&value).unwrap(), true).await;
    assert_eq!(big_event.status, 413, "{}", big_event.body);
    assert_eq!(big_event.body["violations"][0]["rule"], "maxEventBytes");
    assert_eq!(big_event.body["violations"][0]["eventIndex"], 1);

    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_store_nothing() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let token = app.token(&site).await;
    let client = app.client(Credential::Token(token.clone()));
    let before = app.counts().await;
    let body = document(&[1], HERE);

    // Not JSON-LD / JSON.
    let reply = blocking({
        let client = client.clone();
        let body = body.clone();
        let token = token.clone();
        move || {
            client
                .post_raw(
                    "/capture",
                    &[
                        ("Content-Type", "text/plain".to_owned()),
                        ("Authorization", format!("Bearer {token}")),
                    ],
                    &body,
                )
                .unwrap()
        }
    })
    .await;
    assert_eq!(reply.status, 415, "{}", reply.body);
    assert_eq!(
        reply.body["type"],
        "epcisException:UnsupportedMediaTypeException"
    );

    // No credentials, a malformed token, an unknown token, a revoked token.
    let forged = {
        let real = registry::SiteToken::parse(&token).unwrap();
        format!("tt_{}_{}", real.id(), "0".repeat(64))
    };
    for authorization in [
        None,
        Some("Bearer nonsense".to_owned()),
        Some(format!("Bearer {forged}")),
    ] {
        let mut headers = vec![("Content-Type", "application/json".to_owned())];
        if let Some(value) = authorization.clone() {
            headers.push(("Authorization", value));
        }
        let client = client.clone();
        let body = body.clone();
        let reply = blocking(move || client.post_raw("/capture", &headers, &body).unwrap()).await;
        assert_eq!(reply.status, 401, "{authorization:?}: {}", reply.body);
        assert_eq!(reply.body["type"], "epcisException:SecurityException");
    }
    let id = registry::SiteToken::parse(&token).unwrap().id().clone();
    registry::revoke_token(&app.admin, &id).await.unwrap();
    let revoked = capture(&client, body.clone(), false).await;
    assert_eq!(revoked.status, 401, "{}", revoked.body);

    // A bad error behaviour header, malformed JSON.
    let fresh = app.client(Credential::Token(app.token(&site).await));
    let reply = blocking({
        let fresh = fresh.clone();
        let body = body.clone();
        let token = app.token(&site).await;
        move || {
            fresh
                .post_raw(
                    "/capture",
                    &[
                        ("Content-Type", "application/json".to_owned()),
                        ("Authorization", format!("Bearer {token}")),
                        ("GS1-Capture-Error-Behaviour", "sometimes".to_owned()),
                    ],
                    &body,
                )
                .unwrap()
        }
    })
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.body["violations"][0]["pointer"],
        "GS1-Capture-Error-Behaviour"
    );
    let reply = capture(&fresh, b"{\"type\": \"EPCISDocument\", ".to_vec(), false).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "json");

    // An event carrying the member query answers add (where the ledger holds an event), and one
    // whose context binds a prefix to that namespace.
    let mut planted: serde_json::Value = serde_json::from_slice(&document(&[7], HERE)).unwrap();
    planted["epcisBody"]["eventList"][0][ledger::LEDGER_ENTRY_MEMBER] =
        serde_json::json!({"leafIndex": 0, "eventHash": "ni:///sha-256;00?ver=CBV2.0"});
    let mut bound: serde_json::Value = serde_json::from_slice(&document(&[8], HERE)).unwrap();
    bound["epcisBody"]["eventList"][0]["@context"] =
        serde_json::json!({"tt": ledger::LEDGER_NAMESPACE});
    bound["epcisBody"]["eventList"][0]["tt:entry"] = serde_json::json!(1);
    for body in [planted, bound] {
        let reply = capture(&fresh, serde_json::to_vec(&body).unwrap(), false).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(
            reply.body["violations"][0]["rule"], "reserved",
            "{}",
            reply.body
        );
    }

    // A token of the site naming a location the site does not own.
    let elsewhere = capture(
        &fresh,
        document(&[9], "urn:epc:id:sgln:0614141.00999.0"),
        false,
    )
    .await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.body);
    assert_eq!(
        elsewhere.body["violations"][0]["pointer"],
        "/epcisBody/eventList/0/bizLocation/id"
    );

    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stored_through_ingest_pass_the_ledger_audit() {
    let mut app = TestApp::spawn().await;
    let site = app
        .site("site-a", &["urn:epc:idpat:sgln:0614141.00777.*"])
        .await;
    let client = app.client(Credential::Token(app.token(&site).await));
    for first in [0u64, 10, 20] {
        let serials: Vec<u64> = (first..first + 10).collect();
        let reply = capture(
            &client,
            document(&serials, "urn:epc:id:sgln:0614141.00777.dock-1"),
            false,
        )
        .await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    let store = ledger_store::Writer::connect(app.db.url()).unwrap();
    let report = ledger_store::audit(
        &store,
        ledger_store::AuditOptions::default(),
        registry::device_keys_in,
        std::sync::Arc::new(ledger_store::NoProgress),
    )
    .await
    .unwrap();
    assert_eq!(report.problem, None, "{report:?}");
    assert_eq!(report.entries, 30);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_failing_with_an_sql_error_a_retry_would_repeat_is_a_500_not_retry_later() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    // The service's role loses its right to append events: every retry would fail the same way
    // (SQLSTATE 42501, insufficient privilege), so "retry later" would be a lie.
    app.admin
        .batch_execute("REVOKE INSERT ON event_packs FROM tagtrail_ingest")
        .await
        .unwrap();
    let reply = capture(&client, document(&[1, 2, 3], HERE), false).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("nothing was acknowledged")
                && !detail.contains("retry later")),
        "{}",
        reply.body
    );
    assert_eq!(app.counts().await[0], 0, "nothing was stored");
    // Given its right back, the service appends the same document.
    app.admin
        .batch_execute("GRANT INSERT ON event_packs TO tagtrail_ingest")
        .await
        .unwrap();
    let reply = capture(&client, document(&[1, 2, 3], HERE), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_the_service_does_not_serve_are_refused_with_406_and_change_nothing() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let token = app.token(&site).await;
    let client = app.client(Credential::Token(token.clone()));
    let auth = ("Authorization", format!("Bearer {token}"));
    let post = |headers: Vec<(&'static str, String)>| {
        let client = client.clone();
        let auth = auth.clone();
        blocking(move || {
            let mut headers = headers;
            headers.push(("Content-Type", "application/ld+json".to_owned()));
            headers.push((auth.0, auth.1));
            client
                .post_raw("/capture", &headers, &document(&[1, 2], HERE))
                .unwrap()
        })
    };
    // A capture document of EPCIS 1.2 is not read here.
    let reply = post(vec![("GS1-EPCIS-Version", "1.2.0".to_owned())]).await;
    assert_eq!(reply.status, 406, "{}", reply.body);
    assert_eq!(reply.body["type"], "epcisException:NotAcceptableException");
    assert_eq!(reply.body["violations"][0]["pointer"], "GS1-EPCIS-Version");
    let reply = post(vec![("GS1-CBV-Version", "3.0".to_owned())]).await;
    assert_eq!(reply.status, 406, "{}", reply.body);
    // A version header that is not a version cannot be served either: 406, named (the official
    // OpenAPI document gives 406, not 400, to every capture operation).
    let reply = post(vec![("GS1-EPCIS-Version", "two".to_owned())]).await;
    assert_eq!(reply.status, 406, "{}", reply.body);
    assert_eq!(reply.body["title"], "Malformed version header");
    assert_eq!(reply.body["violations"][0]["rule"], "versionMalformed");
    assert_eq!(app.counts().await, [0, 0, 0, 0], "nothing was stored");
    // 2.0 content is captured, and announced as 2.0.0.
    let reply = post(vec![
        ("GS1-EPCIS-Version", "2.0".to_owned()),
        ("GS1-CBV-Version", "2.0.0".to_owned()),
    ])
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);

    // Reads: the client's accepted range must include 2.0.0.
    let get = |name: &'static str, value: &'static str| {
        let url = format!("{}/capture", app.address);
        let token = token.clone();
        blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut response = agent
                .get(&url)
                .header("Authorization", format!("Bearer {token}"))
                .header(name, value)
                .call()
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_str(&response.body_mut().read_to_string().unwrap())
                    .unwrap_or_default();
            (status, body)
        })
    };
    let (status, body) = get("GS1-EPCIS-Min", "3.0.0").await;
    assert_eq!(status, 406, "{body}");
    assert_eq!(body["type"], "epcisException:NotAcceptableException");
    assert_eq!(get("GS1-EPCIS-Max", "1.2.0").await.0, 406);
    assert_eq!(get("GS1-CBV-Min", "2.0.1").await.0, 406);
    assert_eq!(get("GS1-EPCIS-Max", "2").await.0, 200);
    assert_eq!(get("GS1-EPCIS-Min", "1.0.0").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_both_invalid_and_naming_foreign_locations_gets_the_validation_problem() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    app.site("site-b", &["urn:epc:id:sgln:0614141.00888.0"])
        .await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let mut document: serde_json::Value =
        serde_json::from_slice(&document(&[1, 2], "urn:epc:id:sgln:0614141.00888.0")).unwrap();
    // Invalid: an ObjectEvent's action must be ADD, OBSERVE or DELETE.
    document["epcisBody"]["eventList"][1]["action"] = serde_json::json!("STEAL");
    let reply = capture(&client, serde_json::to_vec(&document).unwrap(), false).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["type"], "epcisException:ValidationException");
    assert_eq!(app.counts().await, [0, 0, 0, 0]);
    // Valid, the same document is refused for its locations.
    document["epcisBody"]["eventList"][1]["action"] = serde_json::json!("OBSERVE");
    let reply = capture(&client, serde_json::to_vec(&document).unwrap(), false).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
}

/// What the official OpenAPI document asks of the capture interface besides the documents: an
/// empty event list is a valid capture, a capture job has discovery, an unknown job is a
/// `NoSuchNameException`, and `perPage` is brought into range rather than refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_interface_answers_as_the_official_openapi_document_describes() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let empty = serde_json::json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00Z", "epcisBody": {"eventList": []}
    });
    let reply = capture(&client, serde_json::to_vec(&empty).unwrap(), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["success"], true);
    assert_eq!(reply.body["eventCount"], 0);
    assert_eq!(reply.body["receipts"], serde_json::json!([]));
    assert_eq!(app.counts().await[0], 0, "nothing appended");

    let job = get(&client, "/capture/00000000000000000000000000000000").await;
    assert_eq!(job.status, 404, "{}", job.body);
    assert_eq!(job.body["type"], "epcisException:NoSuchNameException");

    let listed = get(&client, "/capture?perPage=0").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.body.as_array().unwrap().len(),
        1,
        "perPage 0 is read as 1"
    );
    let refused = get(&client, "/capture?perPage=many").await;
    assert_eq!(refused.status, 400, "{}", refused.body);

    let address = app.address.clone();
    let options = blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .options(&format!(
                "{address}/capture/00000000000000000000000000000000"
            ))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response
                .headers()
                .get("allow")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned(),
            response
                .headers()
                .get("gs1-epcis-version")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned(),
        )
    })
    .await;
    assert_eq!(
        options,
        (204, "OPTIONS, GET".to_owned(), "2.0.0".to_owned())
    );
    app.stop().await;
}

/// The custody rules every capture keeps (docs/ARCHITECTURE.md, "Custody authority"), as a
/// registered participant who lies would test them: an event with no location of its own, one
/// dated in the future, and one commissioning or recalling another organisation's EPC are refused
/// with the rule they break, and store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custody_rules_refuse_unlocated_future_foreign_commissioning_and_recall_events() {
    let mut app = TestApp::spawn().await;
    let brand = ledger::OrganisationId::parse("brand").unwrap();
    let rival = ledger::OrganisationId::parse("rival").unwrap();
    let partner = ledger::OrganisationId::parse("partner").unwrap();
    let prefix = epcis::epc::CompanyPrefix::parse("0614141").unwrap();
    registry::add_organisation(&mut app.admin, &brand, &[prefix])
        .await
        .unwrap();
    registry::add_organisation(&mut app.admin, &rival, &[])
        .await
        .unwrap();
    registry::add_organisation(&mut app.admin, &partner, &[])
        .await
        .unwrap();
    registry::add_delegate(&mut app.admin, &brand, &partner)
        .await
        .unwrap();
    let brand_site = site_of(&mut app.admin, "brand-plant", &brand, HERE).await;
    let rival_site = site_of(
        &mut app.admin,
        "rival-depot",
        &rival,
        "urn:epc:id:sgln:0712345.00001.0",
    )
    .await;
    let partner_site = site_of(
        &mut app.admin,
        "partner-hub",
        &partner,
        "urn:epc:id:sgln:0812345.00001.0",
    )
    .await;
    let client_of = |token: String| app.client(Credential::Token(token));
    let brand_client = client_of(app.token(&brand_site).await);
    let rival_client = client_of(app.token(&rival_site).await);
    let partner_client = client_of(app.token(&partner_site).await);
    let before = app.counts().await;
    let doc = |event: serde_json::Value| {
        serde_json::to_vec(&serde_json::json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2024-01-01T00:00:00Z", "epcisBody": {"eventList": [event]}
        }))
        .unwrap()
    };

    // No readPoint and no bizLocation: where it was seen is nobody's.
    let mut unlocated = common::event(1, HERE);
    let unlocated_map = unlocated.as_object_mut().unwrap();
    unlocated_map.remove("readPoint");
    unlocated_map.remove("bizLocation");
    let reply = capture(&brand_client, doc(unlocated), false).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "location");
    assert_eq!(
        reply.body["violations"][0]["pointer"],
        "/epcisBody/eventList/0"
    );

    // Dated an hour ahead: refused; a minute ahead is within the 5-minute clock skew.
    let in_an_hour = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    let in_a_minute = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    let at = |time: std::time::SystemTime| {
        let millis = time
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        ledger::UnixMillis::from_millis(u64::try_from(millis).unwrap()).to_rfc3339()
    };
    let mut future = common::event(2, HERE);
    future["eventTime"] = serde_json::json!(at(in_an_hour));
    let reply = capture(&brand_client, doc(future), false).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "eventTime");
    assert_eq!(
        reply.body["violations"][0]["pointer"],
        "/epcisBody/eventList/0/eventTime"
    );

    // The rival commissions the brand's EPC from its own location: forbidden.
    let commission = |serial: u64, location: &str, time: String| {
        let mut event = common::event(serial, location);
        event["action"] = serde_json::json!("ADD");
        event["bizStep"] = serde_json::json!("commissioning");
        event["eventTime"] = serde_json::json!(time);
        event
    };
    let reply = capture(
        &rival_client,
        doc(commission(
            3,
            "urn:epc:id:sgln:0712345.00001.0",
            at(in_a_minute),
        )),
        false,
    )
    .await;
    forbidden(
        &reply,
        "commissioning",
        "/epcisBody/eventList/0/epcList/0",
        "company prefix of brand, not of rival",
    );
    assert_eq!(app.counts().await, before, "nothing refused was stored");

    // The brand commissions its own EPC (a minute ahead: within the skew), and so may the partner
    // it delegates to.
    let reply = capture(
        &brand_client,
        doc(commission(3, HERE, at(in_a_minute))),
        false,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let reply = capture(
        &partner_client,
        doc(commission(
            4,
            "urn:epc:id:sgln:0812345.00001.0",
            at(in_a_minute),
        )),
        false,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);

    // A recall is the brand's word: the rival's recall of the brand's item, or of a lot of its
    // product, and its lifting of a recall, are forbidden, naming what is not the rival's; the
    // brand and its partner recall.
    let recall = |serial: u64, location: &str| {
        let mut event = common::event(serial, location);
        event["disposition"] = serde_json::json!("recalled");
        event.as_object_mut().unwrap().remove("bizStep");
        event
    };
    let rival = "urn:epc:id:sgln:0712345.00001.0";
    let before = app.counts().await;
    let reply = capture(&rival_client, doc(recall(3, rival)), false).await;
    forbidden(
        &reply,
        "recall",
        "/epcisBody/eventList/0/epcList/0",
        "company prefix of brand, not of rival: only its brand may recall it",
    );
    assert_eq!(
        reply.body["detail"],
        "the document recalls what is not the caller's brand's; nothing was stored"
    );
    let mut lot = recall(3, rival);
    lot["epcList"] = serde_json::json!([]);
    lot["quantityList"] = serde_json::json!([
        {"epcClass": "urn:epc:class:lgtin:0712345.012345.L1", "quantity": 5},
        {"epcClass": "urn:epc:class:lgtin:0614141.107346.L1", "quantity": 5}
    ]);
    let reply = capture(&rival_client, doc(lot), false).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(
        reply.body["violations"].as_array().unwrap().len(),
        1,
        "only the brand's class is refused: {}",
        reply.body
    );
    assert_eq!(
        reply.body["violations"][0]["pointer"],
        "/epcisBody/eventList/0/quantityList/1/epcClass"
    );
    let mut lifting = recall(3, rival);
    lifting.as_object_mut().unwrap().remove("disposition");
    lifting["persistentDisposition"] = serde_json::json!({"unset": ["recalled"]});
    let reply = capture(&rival_client, doc(lifting), false).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.body["violations"][0]["rule"], "recall");
    assert_eq!(app.counts().await, before, "no refused recall was stored");
    let reply = capture(&brand_client, doc(recall(3, HERE)), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let reply = capture(
        &partner_client,
        doc(recall(4, "urn:epc:id:sgln:0812345.00001.0")),
        false,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    // A regulator recalls any brand's item, and lifts the recall.
    let authority = ledger::OrganisationId::parse("authority").unwrap();
    registry::add_organisation(&mut app.admin, &authority, &[])
        .await
        .unwrap();
    registry::set_regulator(&mut app.admin, &authority, true)
        .await
        .unwrap();
    let office = "urn:epc:id:sgln:0999999.00001.0";
    let authority_site = site_of(&mut app.admin, "authority-office", &authority, office).await;
    let authority_client = app.client(Credential::Token(app.token(&authority_site).await));
    // Ingest reads the registry's parties again once its generation changed, at most once a
    // second: until then the new site is nobody's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let reply = loop {
        let reply = capture(&authority_client, doc(recall(5, office)), false).await;
        if reply.status != 403 || std::time::Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(reply.status, 202, "{}", reply.body);
    let mut lifting = recall(5, office);
    lifting.as_object_mut().unwrap().remove("disposition");
    lifting["persistentDisposition"] = serde_json::json!({"unset": ["recalled"]});
    let reply = capture(&authority_client, doc(lifting), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    app.stop().await;
}

/// Asserts that `reply` is a `403` whose first violation breaks `rule` at `pointer`, saying
/// `says`.
fn forbidden(reply: &capture_client::Reply, rule: &str, pointer: &str, says: &str) {
    assert_eq!(reply.status, 403, "{}", reply.body);
    let violation = &reply.body["violations"][0];
    assert_eq!(violation["rule"], rule, "{}", reply.body);
    assert_eq!(violation["pointer"], pointer, "{}", reply.body);
    assert!(
        violation["message"].as_str().unwrap().contains(says),
        "{}",
        reply.body
    );
}

/// Registers a site of `organisation` that speaks for `location`.
async fn site_of(
    admin: &mut tokio_postgres::Client,
    id: &str,
    organisation: &ledger::OrganisationId,
    location: &str,
) -> ledger::SiteId {
    let site = ledger::SiteId::parse(id).unwrap();
    let location = registry::location::SiteLocation::parse(location).unwrap();
    registry::add_site(admin, &site, "", Some(organisation))
        .await
        .unwrap();
    registry::add_site_locations(admin, &site, &[location])
        .await
        .unwrap();
    site
}
