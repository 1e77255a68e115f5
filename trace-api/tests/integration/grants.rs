//! Signed access grants: a request signed with the grantee's key (RFC 9421) is answered within
//! the grant's role, sites and permissions, and recorded in the access log under the grant's id;
//! every forgery an attacker holding a copy of the grant or of a request could try is refused
//! with the reason, and a revoked, expired or tampered grant fails at once.

use std::time::{SystemTime, UNIX_EPOCH};

use ledger::grant::{Permission, Role, SignedParts, content_digest, sign_request};
use ledger::note::{KeyName, NoteSignerKey};
use serde_json::{Value, json};

use crate::common::{Pipeline, SITE, header, segment};
use crate::query::{ITEM_1, journey, token};
use crate::subscriptions::{Received, Receiver, shipping, wait_for_paused};

fn key(name: &str, byte: u8) -> NoteSignerKey {
    NoteSignerKey::from_seed(KeyName::parse(name).unwrap(), &[byte; 32])
}

pub(crate) fn issuer() -> NoteSignerKey {
    key("grants.tagtrail.test", 0x51)
}

pub(crate) fn grantee() -> NoteSignerKey {
    key("auditor.test", 0x52)
}

/// A pipeline whose trace-api takes grants signed by [`issuer`].
async fn pipeline() -> Pipeline {
    let pipeline = Pipeline::start(|config| {
        config.grants.keys = vec![issuer().verifier_key().to_string()];
    })
    .await;
    pipeline.capture(journey()).await;
    pipeline
}

/// Issues a grant to [`grantee`] through the registry, as `tagtrail grant issue` does.
pub(crate) async fn issue(
    pipeline: &Pipeline,
    role: Role,
    sites: &[&str],
    permissions: &[Permission],
    seconds: u64,
) -> String {
    let admin = pipeline.db.connect().await.unwrap();
    let request = registry::GrantRequest {
        grantee: grantee().verifier_key(),
        role,
        sites: sites
            .iter()
            .map(|site| ledger::SiteId::parse(site).unwrap())
            .collect(),
        permissions: permissions.to_vec(),
        expires_in: std::time::Duration::from_secs(seconds),
        label: "test".to_owned(),
    };
    let (grant, _) = registry::issue_grant(&admin, &request, &issuer())
        .await
        .unwrap();
    grant.id
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The signature headers of `method target` (path and query) with `body`, signed by `signer`
/// for grant `id`.
pub(crate) fn signed(
    signer: &NoteSignerKey,
    id: &str,
    method: &str,
    target: &str,
    body: Option<&[u8]>,
    created: u64,
    nonce: &str,
) -> Vec<(String, String)> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let digest = body.map(content_digest);
    let parts = SignedParts {
        method,
        path,
        query,
        content_digest: digest.as_deref(),
    };
    let signature = sign_request(signer, id, &parts, created, nonce);
    let mut headers = vec![
        ("Signature-Input".to_owned(), signature.signature_input),
        ("Signature".to_owned(), signature.signature),
    ];
    if let Some(digest) = digest {
        headers.push(("Content-Digest".to_owned(), digest));
    }
    headers
}

/// `GET target` with `headers`: status, the access entry the answer names, and the body.
async fn get(
    pipeline: &Pipeline,
    target: &str,
    headers: &[(String, String)],
) -> (u16, Option<u64>, Value) {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let (status, answer_headers, body) = pipeline.get_with(target, &headers).await;
    let entry = header(&answer_headers, "tagtrail-access-entry").map(|e| e.parse().unwrap());
    (
        status,
        entry,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// `POST target` with `body` and `headers`: status and body.
async fn post(
    pipeline: &Pipeline,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let (status, _, body) = pipeline.post(target, &headers, body).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn events(answer: &Value) -> usize {
    answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Asserts a `401 SecurityException` whose detail says `why`.
fn refused(status: u16, answer: &Value, why: &str) {
    assert_eq!(status, 401, "{answer}");
    assert_eq!(
        answer["type"], "epcisException:SecurityException",
        "{answer}"
    );
    let detail = answer["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(why), "{why:?} not in {detail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_grant_is_answered_and_logged_and_each_forgery_refused() {
    let pipeline = pipeline().await;
    let id = issue(
        &pipeline,
        Role::Regulator,
        &[],
        &[Permission::Query, Permission::Export],
        3600,
    )
    .await;
    let target = format!("/events?MATCH_epc={}", segment(ITEM_1));
    let me = grantee();

    // Signed by the grantee's key: answered and recorded under the grant's id.
    let headers = signed(&me, &id, "GET", &target, None, now(), "first");
    let (status, entry, answer) = get(&pipeline, &target, &headers).await;
    assert_eq!(status, 200, "{answer}");
    assert!(events(&answer) > 0, "{answer}");
    let entry = entry.expect("the answer names its access entry");

    // The same request again (a copy of it): refused, whoever sends it.
    let (status, _, answer) = get(&pipeline, &target, &headers).await;
    refused(status, &answer, "was taken before");

    // The signature of one request on another: the query, the path, the method differ.
    let other = format!("/events?MATCH_epc={}&perPage=1", segment(ITEM_1));
    let stolen = signed(&me, &id, "GET", &target, None, now(), "second");
    let (status, _, answer) = get(&pipeline, &other, &stolen).await;
    refused(status, &answer, "does not verify with grant");
    let (status, _, answer) = get(&pipeline, "/queries", &stolen).await;
    refused(status, &answer, "does not verify with grant");

    // A key other than the grantee's (the grant alone, or the issuer's key): refused.
    for wrong in [key("auditor.test", 0x53), issuer()] {
        let headers = signed(&wrong, &id, "GET", &target, None, now(), "third");
        let (status, _, answer) = get(&pipeline, &target, &headers).await;
        refused(status, &answer, "does not verify with grant");
    }
    // Made long ago or far ahead: outside the clock-skew allowance.
    for created in [now() - 3600, now() + 3600] {
        let headers = signed(&me, &id, "GET", &target, None, created, "fourth");
        let (status, _, answer) = get(&pipeline, &target, &headers).await;
        refused(status, &answer, "from this service's clock");
    }
    // A grant id nobody issued; headers of another form; one header without the other.
    let headers = signed(
        &me,
        "00000000deadbeef",
        "GET",
        &target,
        None,
        now(),
        "fifth",
    );
    let (status, _, answer) = get(&pipeline, &target, &headers).await;
    refused(status, &answer, "no grant has id 00000000deadbeef");
    let mut bad = signed(&me, &id, "GET", &target, None, now(), "sixth");
    bad[0].1 = bad[0].1.replace("\"@query\"", "\"@authority\"");
    let (status, _, answer) = get(&pipeline, &target, &bad).await;
    refused(status, &answer, "covered components");
    let (status, _, answer) = get(&pipeline, &target, &bad[..1]).await;
    refused(status, &answer, "both Signature-Input and Signature");

    // An export (granted): its body is signed; a body other than the one signed is refused.
    let export = serde_json::to_vec(&json!({"query": {"MATCH_epc": ITEM_1}})).unwrap();
    let headers = signed(
        &me,
        &id,
        "POST",
        "/exports",
        Some(&export),
        now(),
        "export-1",
    );
    let (status, answer) = post(&pipeline, "/exports", &headers, &export).await;
    assert_eq!(status, 200, "{answer}");
    let headers = signed(
        &me,
        &id,
        "POST",
        "/exports",
        Some(&export),
        now(),
        "export-2",
    );
    let swapped =
        serde_json::to_vec(&json!({"query": {"MATCH_epc": "urn:epc:id:sgtin:0614141.812345.9"}}))
            .unwrap();
    let (status, answer) = post(&pipeline, "/exports", &headers, &swapped).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("Content-Digest"),
        "{answer}"
    );
    // A body sent under a signature that does not cover its digest.
    let headers = signed(&me, &id, "POST", "/exports", None, now(), "export-3");
    let (status, answer) = post(&pipeline, "/exports", &headers, &export).await;
    refused(status, &answer, "Content-Digest too");

    // Subscribing was not granted: 403, whatever the signature.
    let definition =
        serde_json::to_vec(&json!({"name": "mine", "query": {"eventType": "ObjectEvent"}}))
            .unwrap();
    let headers = signed(
        &me,
        &id,
        "POST",
        "/queries",
        Some(&definition),
        now(),
        "q-1",
    );
    let (status, answer) = post(&pipeline, "/queries", &headers, &definition).await;
    assert_eq!(status, 201, "a named query is a query: {answer}");
    let subscribe = serde_json::to_vec(&json!({"dest": "https://hooks.example/x"})).unwrap();
    let path = "/queries/mine/subscriptions";
    let headers = signed(&me, &id, "POST", path, Some(&subscribe), now(), "s-1");
    let (status, answer) = post(&pipeline, path, &headers, &subscribe).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("`subscribe`"),
        "{answer}"
    );

    // The grantee lists its own access entries, the first among them once a checkpoint of the
    // access log covers it.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let nonce = format!("log-{attempt}");
        let headers = signed(&me, &id, "GET", "/access-log/entries", None, now(), &nonce);
        let (status, _, answer) = get(&pipeline, "/access-log/entries", &headers).await;
        let unsigned =
            status == 404 && answer["detail"] == "the access log has no signed checkpoint yet";
        assert!(status == 200 || unsigned, "{answer}");
        assert!(unsigned || answer["token"] == id.as_str(), "{answer}");
        let listed: Vec<u64> = answer["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["leafIndex"].as_u64().unwrap())
            .collect();
        if listed.contains(&entry) {
            break;
        }
        assert!(attempt < 300, "{listed:?} still lacks {entry} after 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Revoked: refused from the next request on.
    let admin = pipeline.db.connect().await.unwrap();
    registry::revoke_grant(&admin, &registry::TokenId::parse(&id).unwrap())
        .await
        .unwrap();
    let headers = signed(&me, &id, "GET", &target, None, now(), "after-revoke");
    let (status, _, answer) = get(&pipeline, &target, &headers).await;
    refused(status, &answer, "was revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_grant_reads_its_sites_only_and_an_expired_or_tampered_grant_nothing() {
    let pipeline = pipeline().await;
    let me = grantee();
    // A partner's grant reads what a partner's token of the same site reads.
    let id = issue(
        &pipeline,
        Role::Partner,
        &[SITE],
        &[Permission::Query],
        3600,
    )
    .await;
    let target = "/events?perPage=100";
    let partner = token(&pipeline, registry::Role::Partner, &[SITE], None).await;
    let bearer = vec![("Authorization".to_owned(), format!("Bearer {partner}"))];
    let (status, _, by_token) = get(&pipeline, target, &bearer).await;
    assert_eq!(status, 200, "{by_token}");
    let headers = signed(&me, &id, "GET", target, None, now(), "p-1");
    let (status, _, by_grant) = get(&pipeline, target, &headers).await;
    assert_eq!(status, 200, "{by_grant}");
    assert!(events(&by_grant) > 0);
    assert_eq!(events(&by_grant), events(&by_token));
    // Exports were not granted.
    let export = serde_json::to_vec(&json!({"query": {}})).unwrap();
    let headers = signed(&me, &id, "POST", "/exports", Some(&export), now(), "p-2");
    let (status, answer) = post(&pipeline, "/exports", &headers, &export).await;
    assert_eq!(status, 403, "{answer}");

    // The stored grant rewritten (a wider role) no longer verifies under the issuer's key.
    let admin = pipeline.db.connect().await.unwrap();
    admin
        .execute(
            "UPDATE access_grants SET note = replace(note, 'role partner', 'role regulator')
             WHERE grant_id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let headers = signed(&me, &id, "GET", target, None, now(), "p-3");
    let (status, _, answer) = get(&pipeline, target, &headers).await;
    refused(
        status,
        &answer,
        "does not verify under this service's grant keys",
    );

    // A grant of one second: refused once it has expired.
    let short = issue(&pipeline, Role::Regulator, &[], &[Permission::Query], 1).await;
    let mut attempt = 0;
    let answer = loop {
        attempt += 1;
        let headers = signed(
            &me,
            &short,
            "GET",
            target,
            None,
            now(),
            &format!("e-{attempt}"),
        );
        let (status, _, answer) = get(&pipeline, target, &headers).await;
        if status != 200 {
            refused(status, &answer, "expired");
            break answer;
        }
        assert!(
            attempt < 100,
            "a grant of one second still answered after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(answer["detail"].as_str().unwrap().contains(&short));
}

/// A grantee flooding signed requests uses up its own share of the replay memory: it waits
/// (`429`), and another grantee is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_grantee_s_flood_of_signed_requests_holds_back_only_itself() {
    let pipeline = Pipeline::start(|config| {
        config.grants.keys = vec![issuer().verifier_key().to_string()];
        config.grants.max_nonces = 4;
        config.grants.max_nonces_per_grant = 2;
    })
    .await;
    pipeline.capture(journey()).await;
    let flooder = issue(&pipeline, Role::Regulator, &[], &[Permission::Query], 3600).await;
    let other = issue(&pipeline, Role::Regulator, &[], &[Permission::Query], 3600).await;
    let me = grantee();
    for nonce in ["f-1", "f-2"] {
        let headers = signed(&me, &flooder, "GET", "/events", None, now(), nonce);
        let (status, _, answer) = get(&pipeline, "/events", &headers).await;
        assert_eq!(status, 200, "{answer}");
    }
    let headers = signed(&me, &flooder, "GET", "/events", None, now(), "f-3");
    let (status, _, answer) = get(&pipeline, "/events", &headers).await;
    assert_eq!(status, 429, "{answer}");
    let headers = signed(&me, &other, "GET", "/events", None, now(), "o-1");
    let (status, _, answer) = get(&pipeline, "/events", &headers).await;
    assert_eq!(status, 200, "the other grantee is answered: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_grant_keys_takes_no_grant() {
    let pipeline = Pipeline::start(|_| {}).await;
    let id = issue(&pipeline, Role::Regulator, &[], &[Permission::Query], 3600).await;
    let headers = signed(&grantee(), &id, "GET", "/events", None, now(), "n-1");
    let (status, _, answer) = get(&pipeline, "/events", &headers).await;
    refused(status, &answer, "takes no signed grants");

    // Grants and access tokens share one space of ids: the database refuses a grant under a
    // token's id, and a token under a grant's.
    let token = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let token_id = &token["tt_".len().."tt_".len() + 16];
    let admin = pipeline.db.connect().await.unwrap();
    let error = admin
        .execute(
            "INSERT INTO access_grants (grant_id, role, permissions, grantee, note, expires_at)
             SELECT $1, role, permissions, grantee, note, expires_at FROM access_grants
             WHERE grant_id = $2",
            &[&token_id, &id],
        )
        .await
        .unwrap_err();
    let message = error.as_db_error().unwrap().message();
    assert!(message.contains("is an access token's"), "{message}");
    let error = admin
        .execute(
            "INSERT INTO access_tokens (token_id, role, secret_sha256)
             VALUES ($1, 'regulator', decode(repeat('00', 32), 'hex'))",
            &[&id],
        )
        .await
        .unwrap_err();
    let message = error.as_db_error().unwrap().message();
    assert!(message.contains("is an access grant's"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_s_subscription_delivers_until_the_grant_is_revoked() {
    let pipeline = Pipeline::start(|config| {
        config.grants.keys = vec![issuer().verifier_key().to_string()];
        config.subscriptions.allowed_hosts = vec!["127.0.0.1".to_owned()];
        config.subscriptions.interval = std::time::Duration::from_millis(20);
    })
    .await;
    let me = grantee();
    let id = issue(
        &pipeline,
        Role::Regulator,
        &[],
        &[Permission::Query, Permission::Subscribe],
        3600,
    )
    .await;
    let definition =
        serde_json::to_vec(&json!({"name": "ships", "query": {"EQ_bizStep": "shipping"}})).unwrap();
    let headers = signed(&me, &id, "POST", "/queries", Some(&definition), now(), "q");
    let (status, answer) = post(&pipeline, "/queries", &headers, &definition).await;
    assert_eq!(status, 201, "{answer}");
    let receiver = Receiver::start(&[]);
    let subscribe = serde_json::to_vec(&json!({
        "dest": format!("http://127.0.0.1:{}/hook", receiver.port),
        "stream": true,
    }))
    .unwrap();
    let path = "/queries/ships/subscriptions";
    let headers = signed(&me, &id, "POST", path, Some(&subscribe), now(), "s");
    let (status, answer) = post(&pipeline, path, &headers, &subscribe).await;
    assert_eq!(status, 201, "{answer}");

    // Delivered on the grant's behalf, with no request of the grantee's to sign.
    pipeline.capture(vec![shipping(1, 0)]).await;
    let got = receiver.wait_for(1);
    assert_eq!(got.iter().flat_map(Received::leaves).count(), 1, "{got:?}");

    // Revoked: its subscription waits, saying why, and delivers nothing more.
    let admin = pipeline.db.connect().await.unwrap();
    registry::revoke_grant(&admin, &registry::TokenId::parse(&id).unwrap())
        .await
        .unwrap();
    pipeline.capture(vec![shipping(2, 1)]).await;
    wait_for_paused(&admin, 1).await;
    assert_eq!(
        receiver.got().len(),
        1,
        "nothing delivered for a revoked grant"
    );
    pipeline.stop().await;
}
