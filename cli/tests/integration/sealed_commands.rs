//! `tagtrail recipient keygen|seal|open|grant|erase` against an ingest service started in-process:
//! a document sealed for recipients is captured and opened from its own keys; one sealed as
//! commitments only is opened with its openings, and a forged opening is not; a recipient grants
//! a value to a regulator, and nothing more; erasure writes its record and is idempotent; every
//! bad input is refused with a specific error and changes nothing.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::ingest_commands::{Ingest, args, stdout, tagtrail};

const HERE: &str = "urn:epc:id:sgln:0614141.00777.0";
const ADDRESS: &str = "12 Quai des Brumes, 75001 Paris";
const ORDER: &str = "PO-2026-0042";

fn document(minute: u32) -> Value {
    json!({
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "https://example.com/epcis/"}
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent",
            "eventTime": format!("2026-01-01T10:{minute:02}:00Z"),
            "eventTimeZoneOffset": "+00:00",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.2018"],
            "action": "OBSERVE",
            "bizStep": "loading",
            "readPoint": {"id": HERE},
            "example:delivery": {"example:address": ADDRESS},
            "example:order": ORDER
        }]}
    })
}

fn write(path: &Path, value: &Value) -> String {
    std::fs::write(path, serde_json::to_vec(value).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The command failed as a usage error (exit 2) saying `why`.
fn refused(output: &Output, why: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", stderr(output));
    assert!(stderr(output).contains(why), "{}", stderr(output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealing_opening_and_erasing_work_and_refuse_bad_input() {
    let ingest = Ingest::start("sealed").await;
    let database = ingest.db.url().to_owned();
    let dir = ingest.dir.clone();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    stdout(
        &tagtrail(args(&[
            "site",
            "add",
            "--id",
            "carrier-site",
            "--location",
            HERE,
            "--database-url",
            &database,
        ]))
        .await,
    );
    let token = stdout(
        &tagtrail(args(&[
            "token",
            "create",
            "--site",
            "carrier-site",
            "--database-url",
            &database,
        ]))
        .await,
    );
    let token = token.trim().to_owned();
    // `tagtrail capture` with the site's token: the receipt of the document's one event.
    let capture = |file: &str| {
        let command = args(&["capture", "--url", &ingest.url, "--token", &token, file]);
        async move {
            let printed = stdout(&tagtrail(command).await);
            serde_json::from_str::<Value>(printed.trim()).unwrap()
        }
    };
    for who in ["carrier", "stranger"] {
        stdout(&tagtrail(args(&["recipient", "keygen", "--out", &path(who)])).await);
    }
    // Not over an existing key.
    refused(
        &tagtrail(args(&["recipient", "keygen", "--out", &path("carrier")])).await,
        "already exists",
    );

    // Sealed for the carrier: the document keeps its keys, so the carrier opens it offline.
    let plain = write(&dir.join("plain.json"), &document(1));
    let carrier_pub = format!("{}.pub", path("carrier"));
    let sealed = path("sealed.json");
    stdout(
        &tagtrail(args(&[
            "seal",
            &plain,
            "--field",
            "/example:delivery",
            "--recipient",
            &carrier_pub,
            "--out",
            &sealed,
        ]))
        .await,
    );
    let sealed_text = std::fs::read_to_string(&sealed).unwrap();
    assert!(!sealed_text.contains(ADDRESS) && sealed_text.contains(ORDER));
    let opened = tagtrail(args(&["open", &sealed, "--key", &path("carrier")])).await;
    let opened_text = stdout(&opened);
    let opened_value: Value = serde_json::from_str(&opened_text).unwrap();
    assert_eq!(
        opened_value["epcisBody"]["eventList"][0]["example:delivery"],
        json!({"example:address": ADDRESS})
    );
    assert!(opened_value.get("sealed:keys").is_none());
    assert!(stderr(&opened).contains("event 0 /example:delivery: opened"));
    let other = tagtrail(args(&["open", &sealed, "--key", &path("stranger")])).await;
    assert_eq!(other.status.code(), Some(1), "{}", stderr(&other));
    assert!(!String::from_utf8_lossy(&other.stdout).contains(ADDRESS));

    // Captured; the receipt's hash is the sealed event's.
    let receipt = capture(&sealed).await;
    let hashed = stdout(&tagtrail(args(&["epcis", "hash", &sealed])).await);
    assert_eq!(receipt["eventHash"].as_str().unwrap(), hashed.trim());
    let leaf = receipt["leafIndex"].as_u64().unwrap().to_string();

    // Commitments only: whoever holds the openings proves the value; a forged one proves nothing.
    let committed = path("committed.json");
    let openings = path("openings.json");
    let plain_2 = write(&dir.join("plain-2.json"), &document(2));
    stdout(
        &tagtrail(args(&[
            "seal",
            &plain_2,
            "--field",
            "/example:order",
            "--openings",
            &openings,
            "--out",
            &committed,
        ]))
        .await,
    );
    assert!(!std::fs::read_to_string(&committed).unwrap().contains(ORDER));
    let proved = stdout(&tagtrail(args(&["open", &committed, "--openings", &openings])).await);
    assert!(proved.contains(ORDER), "{proved}");
    let forged_path = dir.join("forged.json");
    let forged = std::fs::read_to_string(&openings)
        .unwrap()
        .replace(ORDER, "PO-2026-0043");
    std::fs::write(&forged_path, forged).unwrap();
    let disproved = tagtrail(args(&[
        "open",
        &committed,
        "--openings",
        forged_path.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(disproved.status.code(), Some(1), "{}", stderr(&disproved));
    assert!(stderr(&disproved).contains("does not match its commitment"));
    let receipt_2 = capture(&committed).await;
    let leaf_2 = receipt_2["leafIndex"].as_u64().unwrap().to_string();

    // Bad input to seal: each refused with its reason, nothing written.
    let nowhere = path("nowhere.json");
    for (extra, why) in [
        (vec!["--field", "/example:delivry"], "has no such field"),
        (vec!["--field", "/epcList"], "cannot seal `/epcList`"),
        (
            vec!["--field", "/example:delivery", "--event", "3"],
            "has no event 3",
        ),
        (
            vec!["--field", "/example:delivery", "--recipient", "not-a-key"],
            "recipient key",
        ),
    ] {
        let mut command = args(&[
            "seal",
            &plain,
            "--recipient",
            &carrier_pub,
            "--out",
            &nowhere,
        ]);
        command.extend(extra.iter().map(|s| (*s).to_owned()));
        refused(&tagtrail(command).await, why);
        assert!(!Path::new(&nowhere).exists());
    }
    refused(
        &tagtrail(args(&["seal", &plain, "--field", "/example:delivery"])).await,
        "nobody could ever open them",
    );
    refused(
        &tagtrail(args(&[
            "seal",
            &sealed,
            "--field",
            "/example:delivery",
            "--recipient",
            &carrier_pub,
        ]))
        .await,
        "sealed already",
    );

    // Erasure: its record, then again (nothing more destroyed, the first time said).
    let erase = |leaf: &str, request: &str, extra: &[&str]| {
        let mut command = args(&[
            "erase",
            "--leaf",
            leaf,
            "--request",
            request,
            "--database-url",
            &database,
        ]);
        command.extend(extra.iter().map(|s| (*s).to_owned()));
        tagtrail(command)
    };
    let first: Value =
        serde_json::from_str(&stdout(&erase(&leaf, "ticket 4711", &[]).await)).unwrap();
    assert_eq!(first["leafIndex"].as_u64().unwrap().to_string(), leaf);
    assert_eq!(first["eventHash"], receipt["eventHash"]);
    assert_eq!(first["request"], "ticket 4711");
    assert_eq!(first["erased"][0]["field"], "/example:delivery");
    assert_eq!(first["erased"][0]["keysDestroyed"], true);
    assert_eq!(first["erased"][0]["alreadyErased"], false);
    let again: Value =
        serde_json::from_str(&stdout(&erase(&leaf, "ticket 4712", &[]).await)).unwrap();
    assert_eq!(again["erased"][0]["keysDestroyed"], false);
    assert_eq!(again["erased"][0]["alreadyErased"], true);
    assert_eq!(
        again["erased"][0]["erasedAt"],
        first["erased"][0]["erasedAt"]
    );
    // A commitment-only value has no keys to destroy; its erasure is still recorded.
    let committed_erased: Value =
        serde_json::from_str(&stdout(&erase(&leaf_2, "ticket 4713", &[]).await)).unwrap();
    assert_eq!(committed_erased["erased"][0]["keysDestroyed"], false);
    assert_eq!(committed_erased["erased"][0]["alreadyErased"], false);

    // An event with nothing sealed.
    let unsealed = write(&dir.join("unsealed.json"), &document(3));
    let receipt_3 = capture(&unsealed).await;
    let leaf_3 = receipt_3["leafIndex"].as_u64().unwrap().to_string();

    // Bad input to erase: refused, nothing recorded.
    let count = || async {
        let client = ingest.db.connect().await.unwrap();
        client
            .query_one("SELECT count(*) FROM erasures", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let recorded = count().await;
    refused(
        &erase(&leaf_3, "ticket 1", &[]).await,
        "holds no sealed value",
    );
    refused(
        &erase("999999", "ticket 1", &[]).await,
        "has no entry 999999",
    );
    refused(
        &erase(&leaf, "ticket 1", &["--field", "/example:order"]).await,
        "no sealed value at /example:order",
    );
    refused(&erase(&leaf, "", &[]).await, "--request must be 1 to 200");
    refused(
        &erase(&leaf, &"x".repeat(201), &[]).await,
        "--request must be 1 to 200",
    );
    assert_eq!(count().await, recorded);

    ingest.stop().await;
}

/// An organisation's recipient keys are registered, listed and rotated: a document sealed to a
/// retired key is refused by ingest (naming the key, its organisation and when it was retired)
/// and stores nothing; one sealed to the current key, or to a key nobody registered (a
/// consumer's own), is captured. Every refusal of the commands changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_keys_are_registered_rotated_and_retired_ones_refused_at_capture() {
    let ingest = Ingest::start("recipients").await;
    let database = ingest.db.url().to_owned();
    let dir = ingest.dir.clone();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let run = |list: &[&str]| {
        let mut all = list.to_vec();
        all.extend(["--database-url", &database]);
        tagtrail(args(&all))
    };
    stdout(&run(&["org", "add", "--id", "brand"]).await);
    stdout(
        &run(&[
            "site",
            "add",
            "--id",
            "brand-site",
            "--org",
            "brand",
            "--location",
            HERE,
        ])
        .await,
    );
    let token = stdout(&run(&["token", "create", "--site", "brand-site"]).await);
    let token = token.trim().to_owned();
    for who in ["old", "new", "consumer"] {
        stdout(&tagtrail(args(&["recipient", "keygen", "--out", &path(who)])).await);
    }
    let public = |who: &str| format!("{}.pub", path(who));
    let added = stdout(
        &run(&[
            "recipient",
            "add",
            "--org",
            "brand",
            "--public-key",
            &public("old"),
        ])
        .await,
    );
    assert!(
        added.starts_with("recipient key ") && added.ends_with(" added to organisation brand\n"),
        "{added}"
    );
    // Refusals, each with its reason; none changes the registry.
    refused(
        &run(&[
            "recipient",
            "add",
            "--org",
            "brand",
            "--public-key",
            &public("old"),
        ])
        .await,
        "the recipient key is registered already, to organisation brand",
    );
    refused(
        &run(&[
            "recipient",
            "add",
            "--org",
            "nobody",
            "--public-key",
            &public("new"),
        ])
        .await,
        "there is no organisation nobody",
    );
    refused(
        &run(&[
            "recipient",
            "add",
            "--org",
            "brand",
            "--public-key",
            "not a key",
        ])
        .await,
        "recipient key: expected the public key file",
    );
    refused(
        &run(&["recipient", "retire", "--key", &public("consumer")]).await,
        "there is no registered recipient key",
    );
    let listed = stdout(&run(&["recipient", "list"]).await);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.starts_with("brand\tcurrent\t"), "{listed}");

    // Sealed to the current key: captured.
    let seal = |to: &[&str], minute: u32, name: &str| {
        let plain = write(&dir.join(format!("{name}-plain.json")), &document(minute));
        let out = path(&format!("{name}.json"));
        let mut list = vec!["seal", &plain, "--field", "/example:delivery"];
        for key in to {
            list.extend(["--recipient", key]);
        }
        list.extend(["--out", &out]);
        let command = args(&list);
        async move {
            stdout(&tagtrail(command).await);
            out
        }
    };
    let capture = |file: String| {
        let command = args(&["capture", "--url", &ingest.url, "--token", &token, &file]);
        tagtrail(command)
    };
    let before = seal(&[&public("old")], 1, "before").await;
    let receipt = capture(before.clone()).await;
    assert_eq!(receipt.status.code(), Some(0), "{}", stderr(&receipt));

    // Rotation: the new key is added, the old one retired (once; again gives the same time).
    stdout(
        &run(&[
            "recipient",
            "add",
            "--org",
            "brand",
            "--public-key",
            &public("new"),
        ])
        .await,
    );
    let retired = stdout(&run(&["recipient", "retire", "--key", &public("old")]).await);
    assert!(
        retired.contains("of organisation brand retired at 20"),
        "{retired}"
    );
    let again = stdout(&run(&["recipient", "retire", "--key", &public("old")]).await);
    assert_eq!(again, retired);
    let listed = stdout(&run(&["recipient", "list", "--org", "brand"]).await);
    let states: Vec<&str> = listed
        .lines()
        .map(|line| line.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(states, ["retired", "current"], "{listed}");

    // Sealed to the retired key (alone, or beside the current one): refused whole, nothing stored.
    let events_before: i64 = ingest
        .db
        .connect()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    for (to, name) in [
        (vec![public("old")], "stale"),
        (vec![public("new"), public("old")], "mixed"),
    ] {
        let keys: Vec<&str> = to.iter().map(String::as_str).collect();
        let file = seal(&keys, 2, name).await;
        let refusal = capture(file).await;
        assert_ne!(refusal.status.code(), Some(0), "{name}");
        let said = format!(
            "{}{}",
            stderr(&refusal),
            String::from_utf8_lossy(&refusal.stdout)
        );
        assert!(said.contains("retiredRecipient"), "{name}: {said}");
        assert!(
            said.contains("of organisation brand, retired at"),
            "{name}: {said}"
        );
    }
    let events_after: i64 = ingest
        .db
        .connect()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(events_after, events_before, "nothing stored");

    // The current key, and a key nobody registered (a consumer's own): captured. What was sealed
    // to the retired key before stays readable to its holder.
    let after = seal(&[&public("new"), &public("consumer")], 3, "after").await;
    let receipt = capture(after).await;
    assert_eq!(receipt.status.code(), Some(0), "{}", stderr(&receipt));
    let opened = tagtrail(args(&["open", &before, "--key", &path("old")])).await;
    assert_eq!(opened.status.code(), Some(0), "{}", stderr(&opened));

    // The participants file lists the keys, the retired one with its time; a capturer offline
    // seals to an organisation's current keys from it (`seal --to`), which capture accepts and
    // the new key opens, and the old one does not.
    let participants = stdout(&run(&["participants"]).await);
    let file: Value = serde_json::from_str(&participants).unwrap();
    let keys = &file["organisations"][0]["recipientKeys"];
    assert_eq!(keys.as_array().map(Vec::len), Some(2), "{participants}");
    assert!(
        keys[0]["retired"]
            .as_str()
            .is_some_and(|at| at.starts_with("20"))
    );
    assert!(keys[1].get("retired").is_none(), "{participants}");
    let participants_file = path("participants.json");
    std::fs::write(&participants_file, &participants).unwrap();
    let plain = write(&dir.join("to-plain.json"), &document(4));
    let to = path("to.json");
    stdout(
        &tagtrail(args(&[
            "seal",
            &plain,
            "--field",
            "/example:delivery",
            "--to",
            "brand",
            "--participants",
            &participants_file,
            "--out",
            &to,
        ]))
        .await,
    );
    let receipt = capture(to.clone()).await;
    assert_eq!(receipt.status.code(), Some(0), "{}", stderr(&receipt));
    let opened = tagtrail(args(&["open", &to, "--key", &path("new")])).await;
    assert_eq!(opened.status.code(), Some(0), "{}", stderr(&opened));
    let not = tagtrail(args(&["open", &to, "--key", &path("old")])).await;
    assert_eq!(not.status.code(), Some(1), "{}", stderr(&not));
    // An organisation the file does not list, or `--to` without the file: refused, naming why.
    refused(
        &tagtrail(args(&[
            "seal",
            &plain,
            "--field",
            "/example:delivery",
            "--to",
            "nobody",
            "--participants",
            &participants_file,
        ]))
        .await,
        "--to nobody: ",
    );
    let usage = tagtrail(args(&[
        "seal",
        &plain,
        "--field",
        "/example:delivery",
        "--to",
        "brand",
    ]))
    .await;
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
    ingest.stop().await;
}

/// `tagtrail grant`: the carrier hands the regulator the delivery address of a document sealed
/// for the carrier alone, offline; the regulator opens it with the grant and nothing else of it,
/// a stranger opens nothing, and whoever holds no key of a value cannot grant it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_grants_a_sealed_value_to_a_regulator_and_nothing_more() {
    let dir = std::env::temp_dir().join(format!("tagtrail-grant-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    for who in ["carrier", "regulator", "stranger"] {
        stdout(&tagtrail(args(&["recipient", "keygen", "--out", &path(who)])).await);
    }
    // The address and the order, both sealed for the carrier.
    let plain = write(&dir.join("plain.json"), &document(1));
    let sealed = path("sealed.json");
    stdout(
        &tagtrail(args(&[
            "seal",
            &plain,
            "--field",
            "/example:delivery",
            "--field",
            "/example:order",
            "--recipient",
            &format!("{}.pub", path("carrier")),
            "--out",
            &sealed,
        ]))
        .await,
    );
    let grant = path("grant.json");
    let granted = tagtrail(args(&[
        "grant",
        "sealed",
        &sealed,
        "--key",
        &path("carrier"),
        "--to",
        &format!("{}.pub", path("regulator")),
        "--field",
        "/example:delivery",
        "--out",
        &grant,
    ]))
    .await;
    stdout(&granted);
    assert!(stderr(&granted).contains("event 0 /example:delivery: granted"));
    let grant_text = std::fs::read_to_string(&grant).unwrap();
    assert!(!grant_text.contains(ADDRESS), "{grant_text}");

    // The regulator opens the address with the grant; the order stays sealed (exit 1).
    let opened = tagtrail(args(&[
        "open",
        &sealed,
        "--key",
        &path("regulator"),
        "--keys",
        &grant,
    ]))
    .await;
    assert_eq!(opened.status.code(), Some(1), "{}", stderr(&opened));
    let value: Value = serde_json::from_slice(&opened.stdout).unwrap();
    let event = &value["epcisBody"]["eventList"][0];
    assert_eq!(
        event["example:delivery"],
        json!({"example:address": ADDRESS})
    );
    assert!(
        event["example:order"]["sealed:field"].is_string(),
        "{event}"
    );
    assert!(stderr(&opened).contains("event 0 /example:order: not opened"));
    // Without the grant, or as a stranger with it, nothing opens.
    let stranger = tagtrail(args(&[
        "open",
        &sealed,
        "--key",
        &path("stranger"),
        "--keys",
        &grant,
    ]))
    .await;
    assert_eq!(stranger.status.code(), Some(1), "{}", stderr(&stranger));
    assert!(!String::from_utf8_lossy(&stranger.stdout).contains(ADDRESS));
    let without = tagtrail(args(&["open", &sealed, "--key", &path("regulator")])).await;
    assert_eq!(without.status.code(), Some(1), "{}", stderr(&without));
    assert!(!String::from_utf8_lossy(&without.stdout).contains(ADDRESS));

    // The stranger holds no key of any value: nothing to grant (exit 1, no file).
    let nothing = tagtrail(args(&[
        "grant",
        "sealed",
        &sealed,
        "--key",
        &path("stranger"),
        "--to",
        &format!("{}.pub", path("regulator")),
        "--out",
        &path("nothing.json"),
    ]))
    .await;
    assert_eq!(nothing.status.code(), Some(1), "{}", stderr(&nothing));
    assert!(!dir.join("nothing.json").exists());
    // Bad input: no --to, a --to that is no key, a grant file that is none.
    refused(
        &tagtrail(args(&[
            "grant",
            "sealed",
            &sealed,
            "--key",
            &path("carrier"),
        ]))
        .await,
        "--to",
    );
    refused(
        &tagtrail(args(&[
            "grant",
            "sealed",
            &sealed,
            "--key",
            &path("carrier"),
            "--to",
            "not-a-key",
        ]))
        .await,
        "Invalid --to not-a-key",
    );
    let not_grant = write(&dir.join("not-grant.json"), &json!({"hello": 1}));
    refused(
        &tagtrail(args(&[
            "open",
            &sealed,
            "--key",
            &path("regulator"),
            "--keys",
            &not_grant,
        ]))
        .await,
        "is not a grant file",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
