//! Sealed consumer data, end to end on the built binaries: a carrier's loading event with the
//! consumer's delivery data sealed by `tagtrail seal` is captured, shown sealed on every public
//! route, opened by each recipient (`tagtrail open --trace-api`) and by no one else, erased
//! (`tagtrail erase`), and still verifies afterwards (`tagtrail verify`). No public answer, no
//! log line of either service and no metric ever holds a byte of the data in clear.

use std::process::{Command, Output};

use serde_json::{Value, json};

use super::{Answer, Deployment, LOCATION, request};
use crate::support::services::{TempDir, binary, gateway_device, tagtrail};

const ITEM: &str = "urn:epc:id:sgtin:0614141.107346.2018";
/// The item's GTIN (indicator digit 1, check digit 4), for its Digital Link.
const GTIN: &str = "10614141073464";
/// The consumer's data: each piece must never appear in clear anywhere public.
const ADDRESS: &str = "12 Quai des Brumes, 75001 Paris";
const PHONE: &str = "+33 6 12 34 56 78";
const NAME: &str = "Jeanne Moreau-Lefebvre";

/// `tagtrail ARGS...` whatever its exit status.
fn tagtrail_any(args: &[&str]) -> Output {
    Command::new(binary("tagtrail"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `text` holds any piece of the consumer's data.
fn leaks(text: &str) -> bool {
    [
        ADDRESS,
        PHONE,
        NAME,
        "Quai des Brumes",
        "12 34 56 78",
        "Moreau",
    ]
    .iter()
    .any(|piece| text.contains(piece))
}

#[test]
fn sealed_consumer_data_is_shown_sealed_opened_by_its_recipients_erased_and_still_verifies() {
    let deployment = Deployment::start(
        "sealed",
        &[("RUST_LOG", "info,ingest=debug,ledger_store=debug")],
    );
    let dir = TempDir::new("tagtrail-sealed");
    let key = |name: &str| dir.path(name);
    for who in ["carrier", "brand", "stranger"] {
        let printed = text(&tagtrail(&["recipient", "keygen", "--out", &key(who)]).stdout);
        assert!(printed.contains("\"algorithm\":\"x25519\""), "{printed}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(key("carrier"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "a private key file is for its owner only"
        );
    }

    // The carrier's loading event, the consumer's delivery data in an extension field.
    let document = json!({
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "https://example.com/epcis/"}
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent",
            "eventTime": "2026-01-01T10:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [ITEM],
            "action": "OBSERVE",
            "bizStep": "loading",
            "readPoint": {"id": LOCATION},
            "example:delivery": {
                "example:name": NAME,
                "example:address": ADDRESS,
                "example:phone": PHONE
            }
        }]}
    });
    let plain = dir.path("loading.json");
    std::fs::write(&plain, serde_json::to_vec(&document).unwrap()).unwrap();
    let sealed = dir.path("loading.sealed.json");
    tagtrail(&[
        "seal",
        &plain,
        "--field",
        "/example:delivery",
        "--recipient",
        &format!("{}.pub", key("carrier")),
        "--recipient",
        &format!("{}.pub", key("brand")),
        "--out",
        &sealed,
    ]);
    let sealed_text = std::fs::read_to_string(&sealed).unwrap();
    assert!(
        !leaks(&sealed_text),
        "the sealed document holds the data in clear"
    );
    assert!(sealed_text.contains("sealed:field") && sealed_text.contains("sealed:keys"));

    // Captured as any document, by the carrier's gateway; the receipt's hash is the one
    // `tagtrail epcis hash` computes over the sealed event.
    let ingest = format!("http://127.0.0.1:{}", deployment.ingest_port);
    gateway_device(
        deployment.db.url(),
        &key("gateway"),
        "carrier-gateway",
        "hostile-site",
    );
    let receipt = text(
        &tagtrail(&[
            "capture",
            "--url",
            &ingest,
            "--device",
            "carrier-gateway",
            "--key",
            &key("gateway"),
            &sealed,
        ])
        .stdout,
    );
    let receipt: Value = serde_json::from_str(receipt.trim()).unwrap();
    let expected = text(&tagtrail(&["epcis", "hash", &sealed]).stdout);
    assert_eq!(receipt["eventHash"].as_str().unwrap(), expected.trim());
    let leaf = receipt["leafIndex"].as_u64().unwrap();
    deployment.wait_for_checkpoint(i64::try_from(leaf).unwrap() + 1);
    let export_key = dir.path("exports.key");
    tagtrail(&[
        "keygen",
        "--name",
        "hostile.test/exports",
        "--private-key",
        &export_key,
    ]);
    let trace = deployment.trace_api(&[
        ("RUST_LOG", "info,trace_api=debug,ledger_store=debug"),
        ("TAGTRAIL_TRACE_EXPORTS_SIGNING_KEY", export_key.as_str()),
    ]);

    // Every public route shows the value sealed.
    let item = ITEM.replace(':', "%3A");
    // ni:///sha-256;<hex>?ver=CBV2.0
    let ni = receipt["eventHash"].as_str().unwrap();
    let hex = ni.split([';', '?']).nth(1).unwrap();
    assert_eq!(hex.len(), 64, "{ni}");
    let history = request(
        trace.port,
        "GET",
        &format!("/items/{item}/history"),
        &[],
        b"",
    );
    assert_eq!(history.status, 200, "{}", history.text());
    let shown = history.json()["events"][0]["event"].clone();
    let field = shown["example:delivery"]["sealed:field"]
        .as_str()
        .unwrap_or_else(|| panic!("not shown sealed: {shown}"));
    let commitment = commitment_of(field);
    let public_key = |who: &str| {
        let file: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{}.pub", key(who))).unwrap())
                .unwrap();
        epcis::hex::encode_lower(&base64_bytes(file["key"].as_str().unwrap()))
    };
    let bundle = request(
        trace.port,
        "GET",
        &format!("/items/{item}/bundle"),
        &[],
        b"",
    );
    assert_eq!(bundle.status, 200, "{}", bundle.text());
    let size = deployment.sql_number("SELECT max(tree_size) FROM checkpoints");
    let mut answers = vec![history.text(), bundle.text()];
    for path in [
        format!("/events/{hex}/bundle"),
        format!("/events/{hex}/proof"),
        "/log/checkpoint".to_owned(),
        format!("/log/tile/entries/000.p/{size}"),
        format!("/sealed/{commitment}/{}", public_key("stranger")),
        format!("/sealed/{commitment}/zz"),
        "/items/not-an-item/history".to_owned(),
    ] {
        let answer = request(trace.port, "GET", &path, &[], b"");
        assert!(answer.status < 500, "{path}: {}", answer.text());
        answers.push(answer.text());
    }
    // The consumer's scan route, as an app asks it (JSON) and as a phone's browser does (the
    // page), and the regulator's query interface and export: the event is there, sealed.
    let scan = format!("/01/{GTIN}/21/2018");
    let verdict = request(trace.port, "GET", &scan, &[], b"");
    assert_eq!(verdict.status, 200, "{}", verdict.text());
    let journey = verdict.json()["journey"].clone();
    assert_eq!(
        journey.as_array().map(Vec::len),
        Some(1),
        "{}",
        verdict.text()
    );
    let page = request(trace.port, "GET", &scan, &[("Accept", "text/html")], b"");
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text().starts_with("<!doctype html>"),
        "{}",
        page.text()
    );
    answers.extend([verdict.text(), page.text()]);
    let regulator = text(
        &tagtrail(&[
            "token",
            "create",
            "--role",
            "regulator",
            "--database-url",
            deployment.db.url(),
        ])
        .stdout,
    );
    let bearer = format!("Bearer {}", regulator.trim());
    let auth = [("Authorization", bearer.as_str())];
    let events_of = |answer: &Answer| {
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            .as_array()
            .unwrap()
            .clone()
    };
    // Every field of the event but the sealed one can be asked about; the sealed field exists,
    // and its value (or a part of it) cannot be confirmed by asking for it.
    let delivery = "https%3A%2F%2Fexample.com%2Fepcis%2F%23delivery";
    let phone = "https%3A%2F%2Fexample.com%2Fepcis%2F%23phone";
    let ask = |path: String| request(trace.port, "GET", &path, &auth, b"");
    let by_item = ask(format!("/events?MATCH_epc={item}"));
    let found = events_of(&by_item);
    assert_eq!(found.len(), 1, "{}", by_item.text());
    assert_eq!(found[0]["example:delivery"]["sealed:field"], field);
    let exists = ask(format!("/events?EXISTS_{delivery}=true&EQ_bizStep=loading"));
    assert_eq!(events_of(&exists).len(), 1, "{}", exists.text());
    let guessed = ask(format!(
        "/events?EQ_INNER_{phone}=%2B33%206%2012%2034%2056%2078"
    ));
    assert!(events_of(&guessed).is_empty(), "{}", guessed.text());
    // The same kind of question about what the event does hold finds it.
    let sealed_member = "https%3A%2F%2Ftagtrail.dev%2Fns%2Fsealed%23field";
    let encoded = field
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let held = ask(format!("/events?EQ_INNER_{sealed_member}={encoded}"));
    assert_eq!(events_of(&held).len(), 1, "{}", held.text());
    let by_resource = ask(format!("/epcs/{item}/events"));
    assert_eq!(events_of(&by_resource).len(), 1, "{}", by_resource.text());
    let wrong = ask(format!("/events?EQ_INNER_{phone}=1&GE_eventTime=yesterday"));
    assert_eq!(wrong.status, 400, "{}", wrong.text());
    let export = request(
        trace.port,
        "POST",
        "/exports",
        &[auth[0], ("Content-Type", "application/json")],
        &serde_json::to_vec(&json!({"query": {"MATCH_epc": ITEM}})).unwrap(),
    );
    assert_eq!(export.status, 200, "{}", export.text());
    assert!(
        export.text().contains(field),
        "the export holds the sealed value"
    );
    answers.extend([
        by_item.text(),
        exists.text(),
        by_resource.text(),
        wrong.text(),
        export.text(),
    ]);
    let stranger = request(
        trace.port,
        "GET",
        &format!("/sealed/{commitment}/{}", public_key("stranger")),
        &[],
        b"",
    );
    // A key the value is not sealed to, and a value with no keys here, are answered like a
    // recipient (a decoy), so that asking with someone's public key tells nothing of whether the
    // value was sealed to them; and never naming another recipient.
    assert_eq!(stranger.status, 200, "{}", stranger.text());
    assert!(!stranger.text().contains(&public_key("carrier")));
    let again = request(
        trace.port,
        "GET",
        &format!("/sealed/{commitment}/{}", public_key("stranger")),
        &[],
        b"",
    );
    assert_eq!(
        again.text(),
        stranger.text(),
        "a decoy is the same every time"
    );
    let unknown = request(
        trace.port,
        "GET",
        &format!("/sealed/{}/{}", "00".repeat(32), public_key("carrier")),
        &[],
        b"",
    );
    assert_eq!(unknown.status, 200, "{}", unknown.text());
    for decoy in [&stranger, &unknown] {
        let body = decoy.json();
        assert_eq!(base64_bytes(body["fieldKey"].as_str().unwrap()).len(), 48);
        assert_eq!(base64_bytes(body["envelope"].as_str().unwrap()).len(), 80);
    }
    let malformed = request(
        trace.port,
        "GET",
        &format!("/sealed/{commitment}/zz"),
        &[],
        b"",
    );
    assert_eq!(malformed.status, 400, "{}", malformed.text());
    let carrier = request(
        trace.port,
        "GET",
        &format!("/sealed/{commitment}/{}", public_key("carrier")),
        &[],
        b"",
    );
    assert_eq!(carrier.status, 200, "{}", carrier.text());
    assert_eq!(carrier.header("cache-control"), Some("no-store"));
    // The stranger's answer has the value's own field key (every recipient's is the same) and
    // an envelope of a real one's length: only the keys' holders can tell theirs from a decoy.
    assert_eq!(stranger.json()["fieldKey"], carrier.json()["fieldKey"]);
    assert_eq!(
        stranger.header("cache-control"),
        carrier.header("cache-control")
    );
    answers.push(carrier.text());
    answers.push(trace.metrics_text());
    for answer in &answers {
        assert!(
            !leaks(answer),
            "a public answer holds the data in clear: {answer}"
        );
    }

    // Each recipient opens it with its own key, the keys fetched from trace-api; nobody else.
    let bundle_file = dir.path("bundle.json");
    std::fs::write(&bundle_file, &bundle.body).unwrap();
    let trace_url = format!("http://127.0.0.1:{}", trace.port);
    for who in ["carrier", "brand"] {
        let opened = tagtrail_any(&[
            "open",
            &bundle_file,
            "--key",
            &key(who),
            "--trace-api",
            &trace_url,
        ]);
        assert_eq!(opened.status.code(), Some(0), "{}", text(&opened.stderr));
        let out = text(&opened.stdout);
        assert!(out.contains(ADDRESS) && out.contains(PHONE) && out.contains(NAME));
    }
    let refused = tagtrail_any(&[
        "open",
        &bundle_file,
        "--key",
        &key("stranger"),
        "--trace-api",
        &trace_url,
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(!leaks(&text(&refused.stdout)));
    assert!(text(&refused.stderr).contains("not sealed to this key"));

    // Erased: a record without personal data; the keys are gone for every recipient.
    let record = text(
        &tagtrail(&[
            "erase",
            "--leaf",
            &leaf.to_string(),
            "--request",
            "erasure request 4711",
            "--database-url",
            deployment.db.url(),
        ])
        .stdout,
    );
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["erased"][0]["commitment"], commitment.as_str());
    assert_eq!(record["erased"][0]["field"], "/example:delivery");
    assert_eq!(record["erased"][0]["keysDestroyed"], true);
    assert!(!leaks(&record.to_string()));
    let gone = request(
        trace.port,
        "GET",
        &format!("/sealed/{commitment}/{}", public_key("carrier")),
        &[],
        b"",
    );
    assert_eq!(gone.status, 410, "{}", gone.text());
    let after = tagtrail_any(&[
        "open",
        &bundle_file,
        "--key",
        &key("carrier"),
        "--trace-api",
        &trace_url,
    ]);
    assert_eq!(after.status.code(), Some(1), "{}", text(&after.stderr));
    assert!(
        text(&after.stderr).contains("erased"),
        "{}",
        text(&after.stderr)
    );
    assert!(!leaks(&text(&after.stdout)));

    // The event still verifies end to end: the bundle served after the erasure, under the log's
    // key and the registry of the parties (this deployment anchors nothing and has no chain:
    // those gaps are allowed by name, and no other).
    let participants = dir.path("participants.json");
    std::fs::write(
        &participants,
        tagtrail(&["participants", "--database-url", deployment.db.url()]).stdout,
    )
    .unwrap();
    let after_bundle = request(
        trace.port,
        "GET",
        &format!("/events/{hex}/bundle"),
        &[],
        b"",
    );
    assert_eq!(after_bundle.status, 200, "{}", after_bundle.text());
    let after_file = dir.path("after.json");
    std::fs::write(&after_file, &after_bundle.body).unwrap();
    let verified = tagtrail_any(&[
        "verify",
        &after_file,
        "--log-key",
        &deployment.log_key,
        "--participants",
        &participants,
        "--allow",
        "unanchored,unchecked-anchors",
    ]);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}{}",
        text(&verified.stdout),
        text(&verified.stderr)
    );

    // So does the export made before the erasure, under the export key too. Its completeness is
    // allowed by name as well: this deployment's one capture is not yet under a checkpoint that
    // commits to the index (trace-api's exports tests prove complete exports).
    let export_file = dir.path("export.json");
    std::fs::write(&export_file, &export.body).unwrap();
    let verified = tagtrail_any(&[
        "verify",
        &export_file,
        "--log-key",
        &deployment.log_key,
        "--participants",
        &participants,
        "--export-key",
        &format!("{export_key}.pub"),
        "--allow",
        "unanchored,unchecked-anchors,incomplete-history",
    ]);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}{}",
        text(&verified.stdout),
        text(&verified.stderr)
    );

    // Neither service ever logged the data, at debug level.
    for piece in [ADDRESS, PHONE, NAME] {
        assert_eq!(deployment.ingest.logged(piece), 0);
        assert_eq!(trace.process.logged(piece), 0);
    }
}

/// The 64 hex digits of a sealed value's commitment (bytes 2..34 of its encoding: version 1,
/// form 2, encrypted and padded).
fn commitment_of(field: &str) -> String {
    let bytes = base64_bytes(field);
    assert!(
        bytes.len() > 34 && bytes[0] == 1 && bytes[1] == 2,
        "{field}"
    );
    epcis::hex::encode_lower(&bytes[2..34])
}

/// Standard padded base64, decoded (the test's own decoder: the services' is under test).
fn base64_bytes(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = ALPHABET.iter().position(|a| *a == byte).unwrap();
        bits = (bits << 6) | u32::try_from(value).unwrap();
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).unwrap());
        }
    }
    out
}
