//! The access log: every credentialed answer (a query, a trace, an export) is recorded before it
//! leaves and names its entry; each grantee lists its own entries with proofs to a signed
//! checkpoint, which a verifier checks; the public tiles rebuild the checkpoint's root; an entry
//! that cannot be written means no answer, a service without an access log answers nothing
//! across items, and rows rewritten behind the service's back stop its signing.

use ledger::access_log::Listing;
use ledger::tiles::TileId;
use ledger::tree::MemoryTree;
use ledger::{Hash, TreeSize};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::common::{ACCESS_ORIGIN, ACCESS_ROLE, Pipeline, READER_ROLE, SITE, header, segment};
use crate::query::{ITEM_1, journey, token};

/// `GET path` with a bearer token: status, the access entry the answer names, and the body.
async fn ask(pipeline: &Pipeline, path: &str, token: &str) -> (u16, Option<u64>, Value) {
    let bearer = format!("Bearer {token}");
    let (status, headers, body) = pipeline
        .get_with(path, &[("Authorization", bearer.as_str())])
        .await;
    let entry = header(&headers, "tagtrail-access-entry").map(|entry| entry.parse().unwrap());
    (
        status,
        entry,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// The access log's newest checkpoint: its size (0 without one) and root.
async fn access_checkpoint(pipeline: &Pipeline) -> (u64, Option<Hash>) {
    let (status, text) = pipeline.get_text("/access-log/checkpoint").await;
    if status != 200 {
        return (0, None);
    }
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(ACCESS_ORIGIN), "{text}");
    let size = lines.next().unwrap().parse().unwrap();
    let root = Hash::parse_base64(lines.next().unwrap()).unwrap();
    (size, Some(root))
}

/// Waits until the access log's checkpoint covers `size` entries.
async fn wait_for_access_checkpoint(pipeline: &Pipeline, size: u64) {
    for _ in 0..600 {
        if access_checkpoint(pipeline).await.0 >= size {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no access-log checkpoint covered {size} entries within 30 s");
}

/// The grantee's listing from `from`, checked against the access log's key.
async fn listing(pipeline: &Pipeline, token: &str, from: u64) -> Listing {
    let (status, _, body) = ask(pipeline, &format!("/access-log/entries?from={from}"), token).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_credentialed_answer_is_logged_before_it_leaves_and_its_grantee_proves_it() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline.capture(journey()).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let partner = token(&pipeline, registry::Role::Partner, &[SITE], None).await;
    let item = segment(ITEM_1);

    // A query, a trace and an export by the regulator, a query by the partner: each answer names
    // its entry, in the order they were answered.
    let query = format!("/events?MATCH_epc={item}");
    let (status, first, answer) = ask(&pipeline, &query, &regulator).await;
    assert_eq!(status, 200, "{answer}");
    let found = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .unwrap()
        .len();
    let (status, traced, answer) = ask(
        &pipeline,
        &format!("/trace/{item}?direction=forward"),
        &regulator,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let export_body = serde_json::to_vec(&json!({"query": {"MATCH_epc": ITEM_1}})).unwrap();
    let (status, headers, body) = pipeline
        .post(
            "/exports",
            &[("authorization", &format!("Bearer {regulator}"))],
            &export_body,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let exported: u64 = header(&headers, "tagtrail-access-entry")
        .unwrap()
        .parse()
        .unwrap();
    let (status, partners, answer) = ask(&pipeline, "/events?perPage=2", &partner).await;
    assert_eq!(status, 200, "{answer}");
    let (first, traced, partners) = (first.unwrap(), traced.unwrap(), partners.unwrap());
    assert_eq!([first, traced, exported, partners], [0, 1, 2, 3]);

    // A refused request answered nothing and records nothing.
    let (status, entry, _) = ask(&pipeline, "/events?EQ_nonsense=1", &regulator).await;
    assert_eq!((status, entry), (400, None));

    // The regulator lists its three entries, the partner its one; each listing verifies.
    wait_for_access_checkpoint(&pipeline, 4).await;
    let mine = listing(&pipeline, &regulator, 0).await;
    let (entries, size) = mine.verify(&pipeline.trusted_access_log()).unwrap();
    assert_eq!(size.get(), 4);
    assert_eq!(
        mine.entries
            .iter()
            .map(|e| e.leaf_index)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(entries[0].target, query);
    assert_eq!(entries[0].answered, found as u64);
    assert_eq!(entries[0].role, "regulator");
    assert!(entries[1].target.starts_with("/trace/"), "{:?}", entries[1]);
    assert_eq!(
        (entries[2].method.as_str(), entries[2].target.as_str()),
        ("POST", "/exports")
    );
    assert_eq!(
        entries[2].body_sha256.as_deref(),
        Some(hex(&sha2::Sha256::digest(&export_body)).as_str()),
        "the export's entry names what was asked for"
    );
    assert!(entries.iter().all(|e| e.as_of > 0 && e.nonce.len() == 32));
    let theirs = listing(&pipeline, &partner, 0).await;
    let (entries, _) = theirs.verify(&pipeline.trusted_access_log()).unwrap();
    assert_eq!(theirs.entries.len(), 1);
    assert_eq!(theirs.entries[0].leaf_index, 3);
    assert_eq!(entries[0].sites, [SITE]);
    // From a later leaf, only what follows; a listing relabelled as another token's is refused.
    assert_eq!(listing(&pipeline, &regulator, 2).await.entries.len(), 1);
    let mut relabelled = theirs.clone();
    relabelled.token = mine.token.clone();
    assert!(relabelled.verify(&pipeline.trusted_access_log()).is_err());

    // Bad listing requests: the binding's exception.
    for path in [
        "/access-log/entries?from=minus-one",
        "/access-log/entries?from=1&from=2",
        "/access-log/entries?limit=5",
    ] {
        let (status, _, body) = ask(&pipeline, path, &regulator).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["type"], "epcisException:QueryParameterException");
    }
    let (status, _) = pipeline.get("/access-log/entries").await;
    assert_eq!(status, 401, "a listing needs the grantee's credential");

    // Anyone rebuilds the checkpoint's root from the public tiles; the entries are not public.
    let (size, root) = access_checkpoint(&pipeline).await;
    let tile = TileId::new(0, 0, u16::try_from(size).unwrap()).unwrap();
    let (status, _, bytes) = pipeline
        .get_raw(&format!("/access-log/{}", tile.path()))
        .await;
    assert_eq!(status, 200);
    let leaves: Vec<Hash> = bytes
        .chunks(32)
        .map(|chunk| Hash::from_slice(chunk).unwrap())
        .collect();
    let tree = MemoryTree::from_leaf_hashes(leaves.clone()).unwrap();
    assert_eq!(tree.size(), TreeSize::new(size).unwrap());
    assert_eq!(Some(*tree.root().hash()), root);
    // Each listed entry's leaf hash is the tile's.
    for listed in mine.entries.iter().chain(&theirs.entries) {
        assert_eq!(
            ledger::leaf_hash(listed.entry.as_bytes()),
            leaves[listed.leaf_index as usize]
        );
    }
    let wider = TileId::new(0, 0, u16::try_from(size + 1).unwrap()).unwrap();
    for path in [
        format!("/access-log/{}", wider.path()),
        "/access-log/tile/entries/000.p/1".to_owned(),
    ] {
        let (status, _) = pipeline.get(&path).await;
        assert_eq!(status, 404, "{path}");
    }

    // Nobody rewrites the log: not the access role, not the owner (append-only), and the reader
    // role a replica serves with does not see who looked at what.
    let admin = pipeline.db.connect().await.unwrap();
    let refused = admin
        .execute("UPDATE access_log SET entry = entry || ' '", &[])
        .await
        .unwrap_err();
    assert!(message(&refused).contains("append-only"), "{refused:?}");
    for (role, group, statement) in [
        (ACCESS_ROLE, "tagtrail_access", "DELETE FROM access_log"),
        (
            READER_ROLE,
            "tagtrail_reader",
            "SELECT count(*) FROM access_log",
        ),
    ] {
        // The pipeline's login role (made already; asked again, its URL).
        let url = pipeline.db.login_role(role, group).await.unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let error = client.execute(statement, &[]).await.unwrap_err();
        assert!(
            message(&error).contains("permission denied"),
            "{role}: {error:?}"
        );
    }
    // The signer ran while the access log was empty (it starts with the service): an empty log
    // has nothing to sign, which is no failure (a checkpoint of size 0 was once tried, and
    // refused by the table's CHECK, every round until the first answer).
    let (_, metrics) = pipeline.get_text("/metrics").await;
    let unsigned = metrics
        .lines()
        .find_map(|line| line.strip_prefix("trace_access_log_unsigned_total "));
    assert_eq!(unsigned, Some("0"), "{metrics}");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_leaves_unrecorded_and_rewritten_rows_stop_the_signing() {
    // A service with no access log answers nothing across items, and the rest as before.
    let unlogged = Pipeline::start(|config| config.access_log.url = None).await;
    unlogged.capture(journey()).await;
    let regulator = token(&unlogged, registry::Role::Regulator, &[], None).await;
    let item = segment(ITEM_1);
    for path in [
        format!("/events?MATCH_epc={item}"),
        format!("/trace/{item}"),
        "/access-log/checkpoint".to_owned(),
    ] {
        let (status, _, body) = ask(&unlogged, &path, &regulator).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(
            body["type"], "https://tagtrail.dev/problems/unrecorded",
            "{body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains("access_log.url"),
            "{body}"
        );
    }
    let (status, _) = unlogged.get(&format!("/items/{item}/history")).await;
    assert_eq!(status, 200, "what one item's holder sees stays public");
    unlogged.stop().await;

    let pipeline = Pipeline::start(|_| {}).await;
    pipeline.capture(journey()).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let query = format!("/events?MATCH_epc={item}");
    let (status, entry, _) = ask(&pipeline, &query, &regulator).await;
    assert_eq!((status, entry), (200, Some(0)));

    // The access log cannot be written: no answer (503, retry), nothing recorded; once it can,
    // the next answer takes the next leaf.
    let admin = pipeline.db.connect().await.unwrap();
    admin
        .batch_execute("REVOKE INSERT ON access_log FROM tagtrail_access")
        .await
        .unwrap();
    let bearer = format!("Bearer {regulator}");
    let (status, headers, body) = pipeline
        .get_with(&query, &[("Authorization", bearer.as_str())])
        .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "https://tagtrail.dev/problems/unrecorded");
    assert!(body.get("epcisBody").is_none());
    assert_eq!(header(&headers, "retry-after"), Some("1"));
    admin
        .batch_execute("GRANT INSERT ON access_log TO tagtrail_access")
        .await
        .unwrap();
    let (status, entry, _) = ask(&pipeline, &query, &regulator).await;
    assert_eq!((status, entry), (200, Some(1)));
    wait_for_access_checkpoint(&pipeline, 2).await;

    // Rows rewritten behind the service's back (by the owner, its append-only trigger set aside):
    // a trace-api started on them signs no checkpoint over them, serves none, and counts the
    // failure; it still records and answers (the entries it appends are sound).
    admin
        .batch_execute(
            "ALTER TABLE access_log DISABLE TRIGGER access_log_append_only;
             UPDATE access_log SET leaf_hash = sha256(leaf_hash) WHERE leaf_index = 0;
             ALTER TABLE access_log ENABLE TRIGGER access_log_append_only;",
        )
        .await
        .unwrap();
    let fresh = pipeline.another_trace_api(|_| {}).await;
    let (status, headers, _) = fresh
        .get_with(&query, &[("Authorization", bearer.as_str())])
        .await;
    assert_eq!(status, 200);
    assert!(header(&headers, "tagtrail-access-entry").is_some());
    let unsigned = || async {
        let (_, metrics) = fresh.get_text("/metrics").await;
        metrics
            .lines()
            .find_map(|line| line.strip_prefix("trace_access_log_unsigned_total "))
            .map_or(0.0, |value| value.parse::<f64>().unwrap())
    };
    for _ in 0..600 {
        if unsigned().await > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        unsigned().await > 0.0,
        "the rewritten rows were signed over"
    );
    let (status, _) = fresh.get_text("/access-log/checkpoint").await;
    assert_eq!(status, 404, "no checkpoint is served over rewritten rows");
    fresh.stop().await;
    pipeline.stop().await;
}

/// What the database said.
fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), |db| db.message().to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_made_at_once_get_distinct_gapless_entries() {
    let pipeline = Pipeline::start(|config| {
        config.limits.burst = 1000;
        config.limits.max_answers_per_client = 64;
    })
    .await;
    pipeline.capture(journey()).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let asked = (0..48).map(|n| {
        let path = format!("/events?perPage={}", 1 + n % 5);
        let (pipeline, regulator) = (&pipeline, &regulator);
        async move { ask(pipeline, &path, regulator).await }
    });
    let mut entries: Vec<u64> = futures_util::future::join_all(asked)
        .await
        .into_iter()
        .map(|(status, entry, body)| {
            assert_eq!(status, 200, "{body}");
            entry.unwrap()
        })
        .collect();
    entries.sort_unstable();
    assert_eq!(entries, (0..48).collect::<Vec<u64>>());
    // Each is the entry of its own answer: 48 entries, each with its own text.
    wait_for_access_checkpoint(&pipeline, 48).await;
    let (mut listed, mut from) = (Vec::new(), 0);
    loop {
        let page = listing(&pipeline, &regulator, from).await;
        page.verify(&pipeline.trusted_access_log()).unwrap();
        listed.extend(page.entries.iter().map(|e| e.leaf_index));
        match page.next_from {
            Some(next) => from = next,
            None => break,
        }
    }
    assert_eq!(listed, (0..48).collect::<Vec<u64>>());
    pipeline.stop().await;
}
