//! The scan page in a real browser: Debian's `chromium`, headless, at phone size, driven by
//! `tests/browser.py` over the DevTools protocol. Each verdict is visible on its page, the
//! page's own script re-checks the item's bundle on the device with WebCrypto and says so, and a
//! bundle altered in flight (as a server or proxy between the log and the consumer might) makes
//! that check fail, naming the event. One event of the genuine item's journey carries a sealed
//! value: the check verifies it as logged. A screenshot of each page is written to
//! `$CARGO_TARGET_TMPDIR/screenshots` (under the target directory's `tmp`).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::anchored::{anchor_newest, anchor_worker};
use crate::common::{Pipeline, SITE, object};

const GTIN: &str = "80614141123458";

/// The EPC of serial `serial` of the test GTIN.
fn item(serial: u32) -> String {
    format!("urn:epc:id:sgtin:0614141.812345.{serial}")
}

/// Where the pages' screenshots go.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `url` in headless Chromium at phone size, waits for the page's check to settle, writes
/// the screenshot `name.png`, and returns what the page shows (`tests/browser.py`'s report).
async fn open(url: String, name: &str, tamper: bool) -> Value {
    let shot = screenshots().join(format!("{name}.png"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser.py");
    let output = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new("python3");
        command.arg(script).arg(&url).arg(&shot);
        if tamper {
            command.arg("--tamper-bundle");
        }
        command.output().expect("python3 runs tests/browser.py")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the browser could not open the page ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let written = std::fs::metadata(screenshots().join(format!("{name}.png"))).unwrap();
    assert!(written.len() > 1000, "an empty screenshot: {report}");
    report
}

/// The page's check, as lines of text (for messages).
fn details(report: &Value) -> Vec<&str> {
    report["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_each_verdict_and_checks_its_bundle_in_the_browser() {
    let pipeline = Pipeline::start(|_| {}).await;
    // The site's organisation owns the company prefix: its commissioning counts.
    let mut admin = pipeline.db.connect().await.unwrap();
    registry::add_organisation_prefixes(
        &mut admin,
        &ledger::OrganisationId::parse(SITE).unwrap(),
        &[epcis::epc::CompanyPrefix::parse("0614141").unwrap()],
    )
    .await
    .unwrap();
    // Genuine: commissioned by its owner, shipped, received, all anchored. Suspicious: seen
    // again after it was destroyed.
    let genuine = item(4242);
    let destroyed = item(4343);
    // Recalled by its brand, the site's organisation: genuine, with the recall said first.
    let recalled = item(4545);
    let mut recall = object(40, "OBSERVE", &[&recalled], "");
    recall.as_object_mut().unwrap().remove("bizStep");
    recall["disposition"] = json!("recalled");
    recall["recall:reason"] = json!("the seal may be faulty: return it to the shop");
    // The receiving site keeps its goods-receipt note private: a sealed value (a commitment;
    // ledger::sealed), which the page's check verifies as logged, byte for byte.
    let mut received = object(20, "OBSERVE", &[&genuine], "receiving");
    received["example:receiptNote"] = json!({"example:clerk": "J. Doe", "example:dock": 4});
    let mut counter = 0u8;
    ledger::sealed::seal_event_fields(
        received.as_object_mut().unwrap(),
        &["/example:receiptNote"],
        None,
        &mut |bytes: &mut [u8]| {
            for byte in bytes {
                counter = counter.wrapping_add(1);
                *byte = counter;
            }
        },
    )
    .unwrap();
    pipeline
        .capture_document(json!({
            "@context": [
                "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                {"example": "https://example.com/epcis/", "sealed": ledger::sealed::NAMESPACE,
                 "recall": ledger::verdict::RECALL_NAMESPACE}
            ],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00Z",
            "epcisBody": {"eventList": [
                object(0, "ADD", &[&genuine], "commissioning"),
                object(0, "ADD", &[&destroyed], "commissioning"),
                object(10, "OBSERVE", &[&genuine], "shipping"),
                received,
                object(30, "DELETE", &[&destroyed], "destroying"),
                // Three hours later: past the destroyer's own grace for last sightings.
                object(30 + 180, "OBSERVE", &[&destroyed], "inspecting"),
                object(0, "ADD", &[&recalled], "commissioning"),
                recall,
            ]},
        }))
        .await;
    let (_, history) = pipeline
        .get(&format!("/items/{}/history", genuine.replace(':', "%3A")))
        .await;
    let sealed_notes = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["event"]["example:receiptNote"]["sealed:field"].is_string())
        .count();
    assert_eq!(sealed_notes, 1, "{history}");
    assert!(!history.to_string().contains("J. Doe"), "{history}");
    let (anvil, worker) = anchor_worker(&pipeline, "tagtrail_anchor_browser_test").await;
    anchor_newest(&worker, &anvil).await;
    // Not anchored yet: commissioned after the anchor.
    let fresh = item(4444);
    pipeline
        .capture(vec![object(240, "ADD", &[&fresh], "commissioning")])
        .await;

    let page = |serial: u32| format!("{}/01/{GTIN}/21/{serial}", pipeline.trace);
    let shown = open(page(4242), "genuine", false).await;
    assert_eq!(shown["verdict"], "genuine", "{shown}");
    assert_eq!(shown["recall"], Value::Null, "{shown}");
    assert_eq!(shown["headline"], "Genuine", "{shown}");
    assert_eq!(shown["state"], "verified", "{shown}");
    assert_eq!(shown["status"], "Verified on this device", "{shown}");
    let lines = details(&shown);
    assert!(
        lines[0].starts_with("The log's signature on its checkpoint of "),
        "{lines:?}"
    );
    assert!(lines[0].contains("(key trace.test/log+"), "{lines:?}");
    assert_eq!(
        lines[1],
        "3 events are in that checkpoint's tree, and 3 of them are byte for byte the ones the log recorded.",
    );
    assert!(
        lines[2].starts_with(&format!(
            "That checkpoint is consistent with the one anchored on chain {}",
            anvil.chain_id
        )),
        "{lines:?}"
    );
    assert!(
        lines[2].ends_with("which holds 3 of these events."),
        "{lines:?}"
    );
    assert_eq!(
        lines[3],
        "Each of the 3 steps shown above is one of these events, as shown: its time, step, place, reporter and refusal."
    );
    // No event of its history left out, as the index the checkpoint commits to shows.
    let size = lines[0]
        .strip_prefix("The log's signature on its checkpoint of ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    assert_eq!(
        lines[4],
        format!(
            "The log's index, to which that checkpoint commits, lists 3 entries under the \
             identifiers this history follows (1 in all: the item, its containers, what it was \
             made from or into), and the bundle holds every one: no event up to entry {size} was \
             left out."
        ),
        "{lines:?}"
    );
    assert!(lines[5].starts_with("Not checked here:"), "{lines:?}");
    assert!(shown["html"].as_u64().unwrap() < 30 * 1024, "{shown}");

    let shown = open(page(4343), "suspicious", false).await;
    assert_eq!(shown["verdict"], "suspicious", "{shown}");
    assert_eq!(shown["state"], "verified", "{shown}");
    assert_eq!(
        details(&shown)[1],
        "3 events are in that checkpoint's tree, and 3 of them are byte for byte the ones the log recorded.",
    );

    // Recalled: the banner above the verdict, which stays genuine, and the check verifies both
    // events (the recall among them).
    let shown = open(page(4545), "recalled", false).await;
    assert_eq!(shown["recall"], "Recalled", "{shown}");
    assert_eq!(shown["verdict"], "genuine", "{shown}");
    assert_eq!(shown["state"], "verified", "{shown}");
    assert!(
        shown["title"].as_str().unwrap().starts_with("Recalled"),
        "{shown}"
    );
    assert_eq!(
        details(&shown)[1],
        "2 events are in that checkpoint's tree, and 2 of them are byte for byte the ones the log recorded.",
    );

    // Its one event is newer than the anchored checkpoint: the check says the anchor holds none.
    let shown = open(page(4444), "not_anchored_yet", false).await;
    assert_eq!(shown["verdict"], "not_anchored_yet", "{shown}");
    assert_eq!(shown["state"], "verified", "{shown}");
    assert!(
        details(&shown)[2].ends_with("which holds 0 of these events."),
        "{shown}"
    );

    // No event names it: nothing to check, and the page says so.
    let shown = open(page(1), "unknown", false).await;
    assert_eq!(shown["verdict"], "unknown", "{shown}");
    assert_eq!(shown["state"], "unchecked", "{shown}");
    assert_eq!(
        details(&shown),
        ["There is no record of this item to check."]
    );

    // The genuine item's bundle, altered on its way to the browser: the check fails, naming the
    // event, while the verdict the server wrote stays on the page.
    let shown = open(page(4242), "genuine-bundle-altered", true).await;
    assert_eq!(
        shown["alteredBundles"].as_array().unwrap().len(),
        1,
        "{shown}"
    );
    assert_eq!(shown["state"], "failed", "{shown}");
    assert_eq!(
        shown["status"], "The check on this device failed: do not rely on this page",
        "{shown}"
    );
    let lines = details(&shown);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with("is not, byte for byte, the one the log recorded."),
        "{lines:?}"
    );
    pipeline.stop().await;
}

/// The check's own cases under Node, whose WebCrypto is the browser's API
/// (`tests/check_js.mjs`): the golden provenance bundle verifies, and each alteration of it
/// (an event's bytes, a proof's hash, a tree size, a signature, a root, the consistency proof,
/// a leaf record, the format) fails with its own code.
#[test]
fn the_check_script_refuses_each_alteration_of_a_bundle() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("node")
        .arg(crate_dir.join("tests/check_js.mjs"))
        .arg(crate_dir.join("src/routes/check.js"))
        .arg(crate_dir.join("../ledger/tests/golden"))
        .output()
        .expect("node runs (scripts/services installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.ends_with("all passed\n"), "{stdout}");
}
