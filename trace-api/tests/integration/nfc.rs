//! NFC taps through the real service (`[scans]`): an NTAG 424 DNA tap verifies once; a replayed,
//! altered, foreign or unregistered tap makes the verdict suspicious and spends nothing; of
//! concurrent requests with one counter exactly one is accepted; `HEAD`, the linkset and
//! redirects spend no tap; a re-programmed tag's counter starts again; the scans role may move
//! counters and nothing else.

use ledger::nfc::{Form, KeyVersion, Keys, SunKey, Uid};
use ledger_store::testing::TestDatabase;
use serde_json::Value;

use crate::common::{
    INGEST_ROLE, Pipeline, READER_ROLE, assert_refused, object, reason, reason_codes,
};

const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";
const SCAN: &str = "/01/80614141123458/21/6789";
const LINK: &str = "https://id.gs1.org/01/80614141123458/21/6789";
const OTHER_LINK: &str = "https://id.gs1.org/01/80614141123458/21/6790";
const SCANS_ROLE: &str = "tagtrail_scans_test";

const TAG: Uid = Uid([0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
const OTHER_TAG: Uid = Uid([0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x67]);
const UNKNOWN_TAG: Uid = Uid([0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x68]);

fn keys() -> Keys {
    let version = |number: u16, seed: u8| KeyVersion {
        version: number,
        meta_read: SunKey::from_bytes([seed; 16]),
        file_read_master: SunKey::from_bytes([seed + 1; 16]),
    };
    Keys::new(vec![version(1, 0x10), version(2, 0x20)]).unwrap()
}

/// The scan URL a tag of key version `version` gives on the tap reading `counter`.
fn tap(uid: Uid, version: u16, counter: u32, form: Form) -> String {
    let sun = keys()
        .version(version)
        .unwrap()
        .tap(uid, counter, [counter as u8; 5]);
    format!("{SCAN}?{}", sun.query(form))
}

fn codes(answer: &Value) -> Vec<&str> {
    reason_codes(answer)
}

fn detail<'a>(answer: &'a Value, code: &str) -> &'a str {
    reason(answer, code)["detail"].as_str().unwrap()
}

/// Trace-api with `[scans]` (the scans role, the test's NFC keys) and ingest on a database of
/// their own, `tags` registered under key version 1 first; the rest of its settings as `adjust`
/// says. Returns the scans role's URL too.
async fn start_with_scans(
    tags: &[(Uid, &str)],
    adjust: impl FnOnce(&mut trace_api::Config) + Send + 'static,
) -> (Pipeline, String) {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let db = TestDatabase::create().await.unwrap();
    let mut admin = db.connect().await.unwrap();
    let ingest_url = db.login_role(INGEST_ROLE, "tagtrail_ingest").await.unwrap();
    let reader_url = db.login_role(READER_ROLE, "tagtrail_reader").await.unwrap();
    let scans_url = db.login_role(SCANS_ROLE, "tagtrail_scans").await.unwrap();
    let dir = std::env::temp_dir().join(format!(
        "trace-api-nfc-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("nfc-keys.json");
    std::fs::write(&key_file, keys().file_text().as_bytes()).unwrap();
    for (uid, link) in tags {
        registry::nfc::register_tag(&admin, *uid, link, 1)
            .await
            .unwrap();
    }
    let scans = secrecy::SecretString::from(scans_url.clone());
    let pipeline = Pipeline::start_on(db, &mut admin, ingest_url, reader_url, move |config| {
        config.scans.url = Some(scans);
        config.scans.nfc_keys = Some(key_file);
        adjust(config);
    })
    .await;
    // The keys were read at start-up.
    std::fs::remove_dir_all(&dir).unwrap();
    (pipeline, scans_url)
}

/// Asserts the scan at `path` carried a tap whose check came out as `code`; returns the answer.
async fn scanned(pipeline: &Pipeline, path: &str, code: &str) -> Value {
    let (status, answer) = pipeline.get(path).await;
    assert_eq!(status, 200, "{path}: {answer}");
    let taps: Vec<&str> = codes(&answer)
        .into_iter()
        .filter(|code| code.starts_with("nfc_"))
        .collect();
    assert_eq!(taps, [code], "{path}: {answer}");
    let suspicious = code == "nfc_tap_replayed" || code == "nfc_tap_refused";
    assert_eq!(
        answer["verdict"] == "suspicious",
        suspicious,
        "{path}: {answer}"
    );
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nfc_taps_verify_once_and_anything_else_is_suspicious() {
    let (pipeline, scans_url) =
        start_with_scans(&[(TAG, LINK), (OTHER_TAG, OTHER_LINK)], |config| {
            // Eight scans at once from one address, below.
            config.limits.max_answers_per_client = 8;
        })
        .await;
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;

    // A tap verifies once; the same URL again, or an older counter, is a replay.
    let first = tap(TAG, 1, 5, Form::Named);
    let answer = scanned(&pipeline, &first, "nfc_tap_verified").await;
    assert_eq!(
        detail(&answer, "nfc_tap_verified"),
        "tag 04112233445566 read 5, a counter never used before"
    );
    let again = scanned(&pipeline, &first, "nfc_tap_replayed").await;
    assert!(
        detail(&again, "nfc_tap_replayed").contains("the last accepted is 5"),
        "{again}"
    );
    scanned(&pipeline, &tap(TAG, 1, 4, Form::Short), "nfc_tap_replayed").await;
    scanned(&pipeline, &tap(TAG, 1, 6, Form::Short), "nfc_tap_verified").await;

    // An altered MAC is refused and spends nothing: the real tap of that counter verifies.
    let real = tap(TAG, 1, 7, Form::Short);
    let (head, mac) = real.split_at(real.len() - 1);
    let altered = format!("{head}{}", if mac == "0" { "1" } else { "0" });
    let refused = scanned(&pipeline, &altered, "nfc_tap_refused").await;
    assert!(
        detail(&refused, "nfc_tap_refused").contains("MAC does not verify"),
        "{refused}"
    );
    scanned(&pipeline, &real, "nfc_tap_verified").await;

    // HEAD, the linkset and a redirect spend no tap.
    let eight = tap(TAG, 1, 8, Form::Named);
    let (status, _, _) = pipeline.request_raw("HEAD", &eight).await;
    assert_eq!(status, 200);
    let (status, _, _) = pipeline
        .request_raw("GET", &format!("{eight}&linkType=linkset"))
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = pipeline
        .request_raw("GET", &format!("{eight}&linkType=gs1:traceability"))
        .await;
    assert_eq!(status, 307);
    scanned(&pipeline, &eight, "nfc_tap_verified").await;

    // Malformed tap data is named, and weighs nothing (a Digital Link may carry parameters
    // named like a tap's).
    let malformed = scanned(
        &pipeline,
        &format!("{SCAN}?e=zz&c=94EED9EE65337086"),
        "nfc_tap_unchecked",
    )
    .await;
    assert!(
        detail(&malformed, "nfc_tap_unchecked").contains("`e` is not 32 hex digits"),
        "{malformed}"
    );
    // Another item's tag, a tag nobody registered, another deployment's tag.
    let foreign = scanned(
        &pipeline,
        &tap(OTHER_TAG, 1, 1, Form::Short),
        "nfc_tap_refused",
    )
    .await;
    assert!(
        detail(&foreign, "nfc_tap_refused").contains("belongs to another item"),
        "{foreign}"
    );
    // The refusal spent nothing of the other item's tag: its own scan accepts that counter.
    let (_, other) = pipeline
        .get(&tap(OTHER_TAG, 1, 1, Form::Short).replace("/21/6789", "/21/6790"))
        .await;
    assert!(codes(&other).contains(&"nfc_tap_verified"), "{other}");
    scanned(
        &pipeline,
        &tap(UNKNOWN_TAG, 1, 1, Form::Short),
        "nfc_tap_refused",
    )
    .await;
    let theirs = KeyVersion {
        version: 1,
        meta_read: SunKey::from_bytes([0x77; 16]),
        file_read_master: SunKey::from_bytes([0x78; 16]),
    }
    .tap(TAG, 50, [0; 5]);
    scanned(
        &pipeline,
        &format!("{SCAN}?{}", theirs.query(Form::Short)),
        "nfc_tap_refused",
    )
    .await;

    // Concurrent requests with one counter: exactly one is accepted.
    let nine = tap(TAG, 1, 9, Form::Named);
    let answers = futures_util::future::join_all((0..8).map(|_| pipeline.get(&nine))).await;
    let verified = answers
        .iter()
        .filter(|(status, answer)| {
            assert_eq!(*status, 200, "{answer}");
            codes(answer).contains(&"nfc_tap_verified")
        })
        .count();
    let replayed = answers
        .iter()
        .filter(|(_, answer)| codes(answer).contains(&"nfc_tap_replayed"))
        .count();
    assert_eq!((verified, replayed), (1, 7), "{answers:?}");

    // Re-programmed under version 2: version 1's URLs no longer verify, and the counter
    // starts again.
    let admin = pipeline.db.connect().await.unwrap();
    assert_eq!(
        registry::nfc::register_tag(&admin, TAG, LINK, 1)
            .await
            .unwrap(),
        registry::nfc::Registered::Unchanged
    );
    assert!(
        registry::nfc::register_tag(&admin, TAG, OTHER_LINK, 1)
            .await
            .is_err(),
        "a registered tag moved to another item without a newer key version"
    );
    assert_eq!(
        registry::nfc::register_tag(&admin, TAG, LINK, 2)
            .await
            .unwrap(),
        registry::nfc::Registered::Reprogrammed { from: 1 }
    );
    assert!(
        registry::nfc::register_tag(&admin, TAG, LINK, 1)
            .await
            .is_err(),
        "a tag went back to an older key version"
    );
    // Only what a consumer scans takes a tag: not a location.
    assert!(matches!(
        registry::nfc::register_tag(
            &admin,
            UNKNOWN_TAG,
            "https://id.gs1.org/414/0614141007776",
            1
        )
        .await,
        Err(registry::nfc::TagError::Item(_))
    ));
    scanned(&pipeline, &tap(TAG, 1, 100, Form::Short), "nfc_tap_refused").await;
    scanned(&pipeline, &tap(TAG, 2, 1, Form::Short), "nfc_tap_verified").await;
    scanned(&pipeline, &tap(TAG, 2, 1, Form::Short), "nfc_tap_replayed").await;

    // The metrics count each outcome.
    let (_, metrics) = pipeline.get_text("/metrics").await;
    for line in [
        "trace_nfc_taps_total{outcome=\"accepted\"} 7",
        "trace_nfc_taps_total{outcome=\"replayed\"} 10",
        "trace_nfc_taps_total{outcome=\"malformed\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    // The scans role reads tags and moves counters; it cannot re-point a tag, add one or read
    // the ledger.
    let (scans, connection) = tokio_postgres::connect(&scans_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    assert_refused(
        &scans,
        &[
            // Back, which would make every URL read from the tag verify again.
            "UPDATE nfc_tags SET last_counter = -1",
            &format!("UPDATE nfc_tags SET item = '{OTHER_LINK}'"),
            "UPDATE nfc_tags SET key_version = 9",
            "INSERT INTO nfc_tags (uid, item, key_version) \
             VALUES ('\\x04000000000000', 'https://id.gs1.org/01/1', 1)",
            "DELETE FROM nfc_tags",
            "SELECT count(*) FROM events",
        ],
    )
    .await;
    pipeline.stop().await;
}

/// A tap the service has no keys for weighs nothing, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_scans_a_tap_is_unchecked() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;
    let plain = pipeline.get(SCAN).await.1;
    let tapped = scanned(&pipeline, &tap(TAG, 1, 1, Form::Named), "nfc_tap_unchecked").await;
    assert_eq!(tapped["verdict"], plain["verdict"]);
    assert_eq!(
        detail(&tapped, "nfc_tap_unchecked"),
        "the tap was not checked: this service holds no NFC keys"
    );
    pipeline.stop().await;
}

/// Two transactions accept one counter at once: the second waits for the first's row lock and
/// then finds the counter spent (a replay); had the first rolled back, the second is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_raced_by_two_transactions_is_accepted_once() {
    use ledger::nfc::{Tap, TapCheck};
    let db = TestDatabase::create().await.unwrap();
    let admin = db.connect().await.unwrap();
    registry::nfc::register_tag(&admin, TAG, LINK, 1)
        .await
        .unwrap();
    let url = db.login_role(SCANS_ROLE, "tagtrail_scans").await.unwrap();
    let names = vec![LINK.to_owned()];
    let connect = || async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    };
    for first_commits in [true, false] {
        let counter = if first_commits { 3 } else { 4 };
        let tap = Tap {
            uid: TAG,
            counter,
            version: 1,
        };
        let mut first = connect().await;
        let mut second = connect().await;
        let first_txn = first.transaction().await.unwrap();
        assert_eq!(
            registry::nfc::accept_tap(&first_txn, &tap, &names)
                .await
                .unwrap(),
            TapCheck::Accepted { uid: TAG, counter }
        );
        let names_2 = names.clone();
        let racing = tokio::spawn(async move {
            let txn = second.transaction().await.unwrap();
            let check = registry::nfc::accept_tap(&txn, &tap, &names_2)
                .await
                .unwrap();
            txn.commit().await.unwrap();
            check
        });
        // Wait until the second waits for the first's lock.
        let mut waited = 0;
        while admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 0
        {
            waited += 1;
            assert!(waited < 1000, "the second transaction never waited");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if first_commits {
            first_txn.commit().await.unwrap();
            assert_eq!(
                racing.await.unwrap(),
                TapCheck::Replayed {
                    uid: TAG,
                    counter,
                    last: counter
                }
            );
        } else {
            first_txn.rollback().await.unwrap();
            assert_eq!(
                racing.await.unwrap(),
                TapCheck::Accepted { uid: TAG, counter }
            );
        }
    }
}

/// The columns `consumer_scans` has: nothing that could name a person.
const SCAN_COLUMNS: [&str; 7] = [
    "scan_id",
    "item",
    "scanned_at",
    "kind",
    "region",
    "cell_latitude",
    "cell_longitude",
];

/// Scans are kept with nothing personal (the edge's region code and a one-degree cell, the time
/// rounded down to 15 minutes), weigh in the verdict as they prove presence, and expire: two taps
/// of one tag in Amsterdam and Shanghai within minutes are a copied label; a flood of link scans
/// from everywhere is said, and weighs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_scans_weigh_as_what_they_prove() {
    const OTHER: &str = "urn:epc:id:sgtin:0614141.812345.6790";
    const OTHER_SCAN: &str = "/01/80614141123458/21/6790";
    let (pipeline, scans_url) = start_with_scans(&[(TAG, LINK)], |config| {
        config.scans.region_header = Some("X-Edge-Region".to_owned());
        config.scans.position_header = Some("X-Edge-Position".to_owned());
        config.scans.edges = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            object(1, "ADD", &[OTHER], "commissioning"),
        ])
        .await;
    let admin = pipeline.db.connect().await.unwrap();
    let kept = || async {
        admin
            .query(
                "SELECT scan_id, item, kind, region, cell_latitude, cell_longitude,
                        extract(epoch FROM scanned_at)::int8 % 900 = 0
                 FROM consumer_scans ORDER BY scan_id",
                &[],
            )
            .await
            .unwrap()
    };
    let wait_for = |count: usize| {
        let kept = &kept;
        async move {
            for _ in 0..600 {
                if kept().await.len() >= count {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("{count} scans were not kept within 30 s");
        }
    };
    let columns: Vec<String> = admin
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_name = 'consumer_scans' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(columns, SCAN_COLUMNS);

    // A scan of a serial nothing names keeps nothing (the tap after it is the first row kept:
    // one writer keeps scans in the order they came).
    let (status, _, body) = pipeline
        .get_with("/01/80614141123458/21/1", &[("Accept", "application/json")])
        .await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["verdict"], "unknown", "{answer}");

    // A tap in Amsterdam: kept as a tap in region NL, cell (52, 4), the time rounded.
    let (status, _, body) = pipeline
        .get_with(
            &tap(TAG, 1, 1, Form::Short),
            &[
                ("Accept", "application/json"),
                ("X-Edge-Region", "nl"),
                ("X-Edge-Position", "52.37, 4.89"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert!(codes(&answer).contains(&"nfc_tap_verified"), "{answer}");
    wait_for(1).await;
    let rows = kept().await;
    assert_eq!(rows.len(), 1, "only the tap is kept");
    let first: i64 = rows[0].get(0);
    assert_eq!(rows[0].get::<_, String>(1), LINK);
    assert_eq!(rows[0].get::<_, String>(2), "nfc");
    assert_eq!(rows[0].get::<_, Option<String>>(3).as_deref(), Some("NL"));
    assert_eq!(
        (
            rows[0].get::<_, Option<i16>>(4),
            rows[0].get::<_, Option<i16>>(5)
        ),
        (Some(52), Some(4))
    );
    assert!(rows[0].get::<_, bool>(6), "the time is kept rounded");

    // The shop's reader (at LOCATION, placed in Amsterdam) reads the item's label now; the tag
    // is tapped minutes later in Shanghai: the label the reader saw is a copy.
    registry::set_location_place(
        &admin,
        &registry::SiteLocation::parse(crate::common::LOCATION).unwrap(),
        Some(registry::place(52.37, 4.89).unwrap()),
    )
    .await
    .unwrap();
    let mut seen = object(0, "OBSERVE", &[ITEM], "inspecting");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    seen["eventTime"] =
        Value::from(ledger::UnixMillis::from_millis(now.as_millis() as u64).to_rfc3339());
    assert_eq!(pipeline.capture(vec![seen]).await.len(), 1);
    let (_, _, body) = pipeline
        .get_with(
            &tap(TAG, 1, 2, Form::Short),
            &[
                ("X-Edge-Region", "CN-SH"),
                ("X-Edge-Position", "31.23,121.47"),
            ],
        )
        .await;
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["verdict"], "suspicious", "{answer}");
    let copied = |answer: &Value| {
        answer["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|reason| reason["code"] == "copied_label")
            .cloned()
            .unwrap_or_else(|| panic!("no copied_label: {answer}"))
    };
    let reader_leaf = answer["journey"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["bizStep"] == "inspecting")
        .map(|step| step["leafIndex"].clone())
        .unwrap();
    assert_eq!(
        copied(&answer)["evidence"],
        serde_json::json!([reader_leaf])
    );
    // Where the consumer was is not repeated.
    let said = copied(&answer)["detail"].as_str().unwrap().to_owned();
    assert!(!said.contains("31.") && !said.contains("121"), "{said}");
    // Kept, the tap is evidence for every later scan, by its id.
    wait_for(2).await;
    let second: i64 = kept().await[1].get(0);
    let (_, later) = pipeline.get(SCAN).await;
    assert_eq!(
        copied(&later)["scans"],
        serde_json::json!([second]),
        "{later}"
    );
    // The first tap, in Amsterdam with the reader, conflicts with nothing.
    assert_ne!(first, second);

    // Garbage in the edge's headers is not kept.
    pipeline
        .get_with(
            OTHER_SCAN,
            &[("X-Edge-Region", "<script>"), ("X-Edge-Position", "91,0")],
        )
        .await;
    wait_for(4).await;
    let rows = kept().await;
    assert_eq!(rows[3].get::<_, Option<String>>(3), None);
    assert_eq!(rows[3].get::<_, Option<i16>>(4), None);
    assert_eq!(rows[3].get::<_, String>(2), "qr");

    // A flood of link scans of the other item from all over the world: said, weighs nothing.
    for k in 0..12 {
        let position = format!("{},{}", -55 + 10 * k, -170 + 29 * k);
        let (status, _, _) = pipeline
            .get_with(OTHER_SCAN, &[("X-Edge-Position", position.as_str())])
            .await;
        assert_eq!(status, 200);
    }
    wait_for(16).await;
    let (_, answer) = pipeline.get(OTHER_SCAN).await;
    assert_ne!(answer["verdict"], "suspicious", "{answer}");
    assert!(codes(&answer).contains(&"scanned_far_apart"), "{answer}");
    wait_for(17).await;

    // Scans older than the retention are deleted, by the scans role, and only those.
    admin
        .execute(
            "INSERT INTO consumer_scans (item, scanned_at, kind)
             VALUES ($1, date_bin('15 minutes', now() - interval '40 days', TIMESTAMPTZ '2000-01-01 00:00:00+00'), 'qr')",
            &[&LINK],
        )
        .await
        .unwrap();
    let (scans, connection) = tokio_postgres::connect(&scans_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
        .execute(
            "INSERT INTO consumer_scans (item, scanned_at, kind)
             VALUES ($1, date_bin('15 minutes', now() - interval '31 days', TIMESTAMPTZ '2000-01-01 00:00:00+00'), 'nfc')",
            &[&LINK],
        )
        .await
        .unwrap();
    let before = kept().await.len();
    // In bounded statements, the oldest first.
    assert_eq!(
        registry::scans::expire_scans(&scans, 30 * 24 * 3600, 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        registry::scans::expire_scans(&scans, 30 * 24 * 3600, 1000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(kept().await.len(), before - 2);
    // It may not change what it kept.
    assert_refused(&scans, &["UPDATE consumer_scans SET region = 'NL'"]).await;
    // Counted once written (the count follows the write).
    let mut counted = String::new();
    for _ in 0..600 {
        counted = pipeline.get_text("/metrics").await.1;
        if counted.contains("trace_scans_recorded_total 17") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        counted.contains("trace_scans_recorded_total 17"),
        "{counted}"
    );
    assert!(counted.contains("trace_scans_dropped_total 0"), "{counted}");
    pipeline.stop().await;
}
