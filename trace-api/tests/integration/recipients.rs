//! `GET /organisations/{organisation}/recipient-keys`: a capturer finds the keys an organisation
//! registered for sealed values, current and retired apart, in the form `tagtrail seal` reads;
//! a rotation shows at once; an unknown organisation is a `404`, a malformed id a `400`, and
//! neither changes anything; an organisation with more keys than an answer holds gets the oldest
//! current ones and the most recently retired ones, flagged `truncated`.

use ledger::OrganisationId;
use ledger::key_file::parse_recipient_key;
use ledger::sealed::RecipientSecret;

use crate::common::{Pipeline, SITE};

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_s_recipient_keys_are_listed_current_and_retired_apart() {
    let pipeline = Pipeline::start(|_| {}).await;
    let organisation = OrganisationId::parse(SITE).unwrap();
    let path = format!("/organisations/{SITE}/recipient-keys");

    // Nothing registered yet: an empty list, not an error.
    let (status, listed) = pipeline.get(&path).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed,
        serde_json::json!({"organisation": SITE, "current": [], "retired": []})
    );

    // xorshift64: reproducible test randomness, no key twice.
    let mut state = 0x5eed_u64;
    let mut random = |bytes: &mut [u8]| {
        for b in bytes {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state.to_le_bytes()[0];
        }
    };
    let old = RecipientSecret::generate(&mut random).public_key();
    let new = RecipientSecret::generate(&mut random).public_key();
    let admin = pipeline.db.connect().await.unwrap();
    registry::add_recipient_key(&admin, &organisation, &old)
        .await
        .unwrap();
    let (status, headers, body) = pipeline.get_raw(&path).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let current = listed["current"].as_array().unwrap();
    assert_eq!(current.len(), 1, "{listed}");
    // The key's algorithm and key are a `.pub` file's, as `tagtrail seal --recipient` reads it.
    let file = serde_json::json!({
        "algorithm": current[0]["algorithm"],
        "key": current[0]["key"],
    });
    assert_eq!(parse_recipient_key(&file.to_string()).unwrap(), old);
    assert!(current[0]["addedAt"].as_str().unwrap().ends_with('Z'));
    assert!(current[0].get("retiredAt").is_none(), "{listed}");

    // Rotated: the new key is current, the old one retired, at once (nothing cached).
    registry::add_recipient_key(&admin, &organisation, &new)
        .await
        .unwrap();
    registry::retire_recipient_key(&admin, &old).await.unwrap();
    let (status, listed) = pipeline.get(&path).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["current"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["current"][0]["key"], new.to_base64());
    assert_eq!(listed["retired"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["retired"][0]["key"], old.to_base64());
    assert!(listed["retired"][0]["retiredAt"].is_string(), "{listed}");

    // An organisation nobody registered, and an id that cannot be one.
    let (status, problem) = pipeline
        .get("/organisations/no-such-organisation/recipient-keys")
        .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(
        problem["detail"],
        "there is no organisation no-such-organisation"
    );
    let (status, problem) = pipeline
        .get("/organisations/two%20words/recipient-keys")
        .await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("\"two words\" is not an organisation id"),
        "{problem}"
    );
    let keys: i64 = admin
        .query_one("SELECT count(*) FROM recipient_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 2);

    // An organisation with more keys than an answer lists: the oldest current ones, the most
    // recently retired ones, and a flag.
    let bound = trace_api::routes::MAX_LISTED_RECIPIENT_KEYS;
    let mut added = Vec::new();
    for _ in 0..=bound {
        let key = RecipientSecret::generate(&mut random).public_key();
        registry::add_recipient_key(&admin, &organisation, &key)
            .await
            .unwrap();
        added.push(key);
    }
    let (status, listed) = pipeline.get(&path).await;
    assert_eq!(status, 200);
    let current = listed["current"].as_array().unwrap();
    assert_eq!(current.len(), bound);
    assert_eq!(current[0]["key"], new.to_base64(), "the oldest first");
    assert_eq!(listed["truncated"], true);
    for key in &added {
        registry::retire_recipient_key(&admin, key).await.unwrap();
    }
    registry::retire_recipient_key(&admin, &new).await.unwrap();
    let (_, listed) = pipeline.get(&path).await;
    assert!(listed["current"].as_array().unwrap().is_empty(), "{listed}");
    let retired = listed["retired"].as_array().unwrap();
    assert_eq!(retired.len(), bound);
    assert_eq!(
        retired[bound - 1]["key"],
        new.to_base64(),
        "the most recently retired last"
    );
    assert_eq!(listed["truncated"], true);
    pipeline.stop().await;
}
