//! Sealed fields at capture: values sealed for recipients are captured with their keys kept apart
//! from the log, opened by their recipients, erased, and still verify; documents whose sealed
//! values or keys do not agree are refused whole and store nothing.

use capture_client::Credential;
use ledger::LeafIndex;
use ledger::sealed::{self, Commitment, KEYS_MEMBER, KeySet, RecipientSecret, SealedField, Sealer};
use ledger_store::{EraseError, FieldKeys, Reader, Writer};
use serde_json::{Value, json};

use crate::common::{TestApp, capture, document};

const HERE: &str = "urn:epc:id:sgln:0614141.00777.0";
const ADDRESS: &str = "12 Quai des Brumes, 75001 Paris, +33 6 12 34 56 78";

fn random(bytes: &mut [u8]) {
    getrandom::fill(bytes).unwrap();
}

/// A document of two events whose second carries the consumer's delivery data, sealed for the
/// recipients; returns it with the sealed value's commitment.
fn sealed_document(recipients: &[&RecipientSecret]) -> (Value, Commitment, KeySet) {
    let mut value: Value = serde_json::from_slice(&document(&[1, 2], HERE)).unwrap();
    sealed::declare_namespace(value.as_object_mut().unwrap()).unwrap();
    value["@context"]
        .as_array_mut()
        .unwrap()
        .push(json!({"example": "https://ns.example.com/epcis/"}));
    let event = value["epcisBody"]["eventList"][1].as_object_mut().unwrap();
    event.insert(
        "example:delivery".into(),
        json!({"example:address": ADDRESS}),
    );
    let keys: Vec<_> = recipients.iter().map(|r| r.public_key()).collect();
    let mut sealer = Sealer::new(&keys, &mut random).unwrap();
    sealed::seal_event_fields(
        event,
        &["/example:delivery"],
        Some(&mut sealer),
        &mut random,
    )
    .unwrap();
    let field = SealedField::from_json(&event["example:delivery"])
        .unwrap()
        .unwrap();
    let set = sealer.key_set();
    value[KEYS_MEMBER] = json!([set.to_base64()]);
    (value, *field.commitment(), set)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_consumer_data_is_captured_opened_by_its_recipient_erased_and_still_verifies() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let carrier = RecipientSecret::generate(&mut random);
    let brand = RecipientSecret::generate(&mut random);
    let (value, commitment, _) = sealed_document(&[&carrier, &brand]);
    let body = serde_json::to_vec(&value).unwrap();
    let reply = capture(&client, body.clone(), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);

    // The log holds the sealed form only: no byte of the address, under the event hash the
    // capturer computed over the sealed event.
    let events: Vec<String> = app
        .admin
        .query("SELECT event::text FROM events ORDER BY leaf_index", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(events.len(), 2);
    assert!(events[1].contains("sealed:field"));
    assert!(
        events
            .iter()
            .all(|e| !e.contains("Quai") && !e.contains("+33"))
    );
    let reader = Reader::connect(app.db.url()).unwrap();
    let hashes = crate::common::cli_hashes(&body);
    let entry = reader
        .entry(LeafIndex::new(1).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.record.event_hash().to_ni_uri(), hashes[1]);

    // Each recipient opens it with the keys the store kept; the keys hold no plaintext either.
    let FieldKeys::Kept {
        field_key,
        envelopes,
    } = reader.field_keys(&commitment).await.unwrap()
    else {
        panic!("the keys were not kept");
    };
    assert_eq!(envelopes.len(), 2);
    let event: Value = serde_json::from_str(&events[1]).unwrap();
    let field = SealedField::from_json(&event["example:delivery"])
        .unwrap()
        .unwrap();
    for secret in [&carrier, &brand] {
        let envelope = envelopes
            .iter()
            .find(|e| e.recipient() == secret.public_key())
            .unwrap();
        let opening = sealed::open(&field, &field_key, envelope, secret).unwrap();
        let opened: Value = serde_json::from_slice(opening.value()).unwrap();
        assert_eq!(opened, json!({"example:address": ADDRESS}));
    }

    // A participant copies the sealed value into an event of its own, with a key set of its own
    // for that commitment: the event is captured (the value is opaque to it), but the keys the
    // recipients open with stay the original ones.
    let thief = RecipientSecret::generate(&mut random);
    let (mut copy, _, thief_set) = sealed_document(&[&thief]);
    copy["epcisBody"]["eventList"][1]["example:delivery"] = event["example:delivery"].clone();
    copy["epcisBody"]["eventList"][1]["epcList"] = json!(["urn:epc:id:sgtin:0614141.107346.99"]);
    let mut forged = thief_set.encode();
    let at = 2 + 112 * thief_set.envelopes().len() + 2;
    forged[at..at + 32].copy_from_slice(commitment.as_bytes());
    copy[KEYS_MEMBER] = json!([KeySet::decode(&forged).unwrap().to_base64()]);
    let reply = capture(&client, serde_json::to_vec(&copy).unwrap(), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let FieldKeys::Kept {
        field_key: kept_key,
        envelopes: kept,
    } = reader.field_keys(&commitment).await.unwrap()
    else {
        panic!("the keys are gone");
    };
    assert_eq!(
        kept, envelopes,
        "the copier's keys replaced none of the recipients'"
    );
    assert_eq!(kept_key, field_key, "nor the value's field key");
    let bound: Vec<i64> = app
        .admin
        .query("SELECT leaf_index FROM sealed_field_keys", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        bound,
        [1],
        "one key, bound to the entry that logged the value first; the copy (entry 2) got none"
    );

    // Erasing through the copy is refused, naming the entry that holds the keys, and erases
    // nothing: a participant cannot have another's keys destroyed by copying its value.
    let writer = Writer::connect(app.db.url()).unwrap();
    let refused = writer
        .erase(LeafIndex::new(2).unwrap(), &[commitment], "ticket 4710")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, EraseError::HeldByAnotherEntry { holder: 1, .. }),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("erase it through entry 1"),
        "{refused}"
    );
    assert!(matches!(
        reader.field_keys(&commitment).await.unwrap(),
        FieldKeys::Kept { .. }
    ));
    let recorded: i64 = app
        .admin
        .query_one("SELECT count(*) FROM erasures", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 0, "nothing recorded");

    // Erasure destroys the keys, records what was erased (no personal data), and is final:
    // resending the original capture does not bring the keys back.
    let erased = writer
        .erase(LeafIndex::new(1).unwrap(), &[commitment], "ticket 4711")
        .await
        .unwrap();
    assert!(erased[0].keys_destroyed && !erased[0].already_erased);
    assert!(matches!(
        reader.field_keys(&commitment).await.unwrap(),
        FieldKeys::Erased { .. }
    ));
    let again = writer
        .erase(LeafIndex::new(1).unwrap(), &[commitment], "ticket 4712")
        .await
        .unwrap();
    assert!(!again[0].keys_destroyed && again[0].already_erased);
    assert_eq!(again[0].erased_at_unix_ms, erased[0].erased_at_unix_ms);
    let logged = app.counts().await[0];
    assert_eq!(logged, 3, "the two events and the copier's new one");
    let reply = capture(&client, body, false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert!(matches!(
        reader.field_keys(&commitment).await.unwrap(),
        FieldKeys::Erased { .. }
    ));
    let left: i64 = app
        .admin
        .query_one(
            "SELECT (SELECT count(*) FROM sealed_field_keys) + (SELECT count(*) FROM sealed_grants)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "every key of the erased value is gone");
    let record = app
        .admin
        .query_one("SELECT leaf_index, request FROM erasures", &[])
        .await
        .unwrap();
    assert_eq!(record.get::<_, i64>(0), 1);
    assert_eq!(record.get::<_, String>(1), "ticket 4711");

    // The entry is unchanged: the same event under the same hash (its proofs still hold), and
    // the resent capture appended nothing.
    let entry = reader
        .entry(LeafIndex::new(1).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.record.event_hash().to_ni_uri(), hashes[1]);
    let stored: String = app
        .admin
        .query_one("SELECT event::text FROM events WHERE leaf_index = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, events[1]);
    assert_eq!(app.counts().await[0], logged);
    app.stop().await;
}

/// Keys are kept in the transaction that appends their events, bound to each event's entry, and
/// only for events appended: an event refused (under `proceed`) leaves no key behind, and a
/// retried capture keeps nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_kept_with_the_events_appended_and_no_other() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let carrier = RecipientSecret::generate(&mut random);
    let mut value: Value = serde_json::from_slice(&document(&[1, 2, 3], HERE)).unwrap();
    sealed::declare_namespace(value.as_object_mut().unwrap()).unwrap();
    value["@context"]
        .as_array_mut()
        .unwrap()
        .push(json!({"example": "https://ns.example.com/epcis/"}));
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    let mut commitments = Vec::new();
    for k in 0..3 {
        let event = value["epcisBody"]["eventList"][k].as_object_mut().unwrap();
        event.insert("example:note".into(), json!(format!("private note {k}")));
        sealed::seal_event_fields(event, &["/example:note"], Some(&mut sealer), &mut random)
            .unwrap();
        let field = SealedField::from_json(&event["example:note"])
            .unwrap()
            .unwrap();
        commitments.push(*field.commitment());
    }
    value[KEYS_MEMBER] = json!([sealer.key_set().to_base64()]);
    // The second event is refused (no such action); the others are appended.
    value["epcisBody"]["eventList"][1]["action"] = json!("LOOK");
    let body = serde_json::to_vec(&value).unwrap();
    let reply = capture(&client, body.clone(), true).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let leaves: Vec<i64> = reply.body["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["leafIndex"].as_i64().unwrap())
        .collect();
    assert_eq!(
        leaves,
        [0, 1],
        "events 0 and 2 appended, at entries 0 and 1"
    );
    let kept = || async {
        app.admin
            .query(
                "SELECT commitment, leaf_index FROM sealed_field_keys ORDER BY leaf_index",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get::<_, Vec<u8>>(0), row.get::<_, i64>(1)))
            .collect::<Vec<_>>()
    };
    let expected = vec![
        (commitments[0].as_bytes().to_vec(), 0),
        (commitments[2].as_bytes().to_vec(), 1),
    ];
    assert_eq!(
        kept().await,
        expected,
        "no key for the refused event's value"
    );
    let reader = Reader::connect(app.db.url()).unwrap();
    assert!(matches!(
        reader.field_keys(&commitments[1]).await.unwrap(),
        FieldKeys::Unknown
    ));
    let grants: i64 = app
        .admin
        .query_one("SELECT count(*) FROM sealed_grants", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(grants, 1, "the batch key's one envelope, once");

    // The retry appends nothing and keeps nothing more.
    let reply = capture(&client, body, true).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert!(
        reply.body["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["duplicate"] == json!(true)),
        "{}",
        reply.body
    );
    assert_eq!(kept().await, expected);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_values_and_keys_that_disagree_are_refused_and_store_nothing() {
    let mut app = TestApp::spawn().await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    let carrier = RecipientSecret::generate(&mut random);
    let (good, _, set) = sealed_document(&[&carrier]);
    let (other, _, other_set) = sealed_document(&[&carrier]);
    let before = app.counts().await;

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        // A value sealed for recipients without its key: nobody could ever open it.
        (
            "no keys",
            {
                let mut v = good.clone();
                v.as_object_mut().unwrap().remove(KEYS_MEMBER);
                v
            },
            "sealedField",
            "nobody could ever open it",
        ),
        // A key for a value this document does not hold.
        (
            "foreign key",
            {
                let mut v = good.clone();
                v[KEYS_MEMBER] = json!([set.to_base64(), other_set.to_base64()]);
                v
            },
            "sealedKeys",
            "which no value of the document",
        ),
        // The wrong document's keys only.
        (
            "wrong keys",
            {
                let mut v = good.clone();
                v[KEYS_MEMBER] = other[KEYS_MEMBER].clone();
                v
            },
            "sealedField",
            "nobody could ever open it",
        ),
        (
            "malformed key set",
            {
                let mut v = good.clone();
                v[KEYS_MEMBER] = json!(["AAAA"]);
                v
            },
            "sealedKeys",
            "version",
        ),
        (
            "key sets not a list",
            {
                let mut v = good.clone();
                v[KEYS_MEMBER] = json!("x");
                v
            },
            "sealedKeys",
            "a list of key sets",
        ),
        // Too many key sets to read: refused before any is decoded.
        (
            "too many key sets",
            {
                let mut v = good.clone();
                v[KEYS_MEMBER] = json!(vec![set.to_base64(); 65]);
                v
            },
            "sealedKeys",
            "the document carries 65 key sets; at most 64 are accepted",
        ),
        // One value's key in two sets: which one opens it?
        (
            "a key in two sets",
            {
                let mut v = good.clone();
                v[KEYS_MEMBER] = json!([set.to_base64(), set.to_base64()]);
                v
            },
            "sealedKeys",
            "two key sets hold a key for the sealed value",
        ),
        (
            "a key set that is not a string",
            {
                let mut v = good.clone();
                v[KEYS_MEMBER] = json!([1]);
                v
            },
            "sealedKeys",
            "a key set is a string of standard base64",
        ),
        // The same sealed value in two events: one key, two owners, and erasing one would
        // destroy the other's.
        (
            "one sealed value twice",
            {
                let mut v = good.clone();
                let copied = v["epcisBody"]["eventList"][1]["example:delivery"].clone();
                v["epcisBody"]["eventList"][0]["example:delivery"] = copied;
                v
            },
            "sealedField",
            "appears twice in the document",
        ),
        (
            "malformed sealed value",
            {
                let mut v = good.clone();
                v["epcisBody"]["eventList"][1]["example:delivery"] =
                    json!({"sealed:field": "AQ=="});
                v
            },
            "sealedField",
            "ends in the middle of its form",
        ),
        (
            "sealed value with other members",
            {
                let mut v = good.clone();
                v["epcisBody"]["eventList"][1]["example:delivery"]["example:more"] = json!(1);
                v
            },
            "sealedField",
            "has other members",
        ),
    ];
    for (name, value, rule, message) in cases {
        let reply = capture(&client, serde_json::to_vec(&value).unwrap(), false).await;
        assert_eq!(reply.status, 400, "{name}: {}", reply.body);
        let violations = reply.body["violations"].as_array().unwrap();
        assert!(
            violations
                .iter()
                .any(|v| v["rule"] == rule && v["message"].as_str().unwrap().contains(message)),
            "{name}: {}",
            reply.body
        );
        assert_eq!(app.counts().await, before, "{name}: nothing stored");
    }
    let keys: i64 = app
        .admin
        .query_one("SELECT count(*) FROM sealed_field_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 0);
    app.stop().await;
}
