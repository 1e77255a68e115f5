//! The migrations of `sql/` against a real PostgreSQL: they apply, re-running them changes nothing,
//! and the ledger tables are append-only for the service role and, through triggers, for everyone.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use epcis::EventHash;
use ledger::ids::{SiteId, UnixMillis};
use ledger::record::{Attestation, LeafRecord};
use ledger::size::LeafIndex;
use ledger_store::testing::{TestDatabase, stored_leaf_records};
use ledger_store::{Writer, migrate, migrate_to_version};

/// The SQLSTATE of the refusal, and whether the message says why.
async fn refusal(client: &tokio_postgres::Client, sql: &str) -> (String, String) {
    let error = client
        .batch_execute(sql)
        .await
        .expect_err(&format!("`{sql}` should have been refused"));
    let db = error.as_db_error().expect("a database error");
    (db.code().code().to_owned(), db.message().to_owned())
}

/// Every migration in `sql/`, in order: a new one is added here once, and each test of an upgrade
/// from an older schema expects the tail of this list from the first migration it lacks.
const MIGRATIONS: [&str; 42] = [
    "V1__ledger",
    "V2__ingest",
    "V3__lookup_runs",
    "V4__registry_generation",
    "V5__entry_bundles",
    "V6__event_packs",
    "V7__superseded_migrations",
    "V8__error_declarations",
    "V9__reader_role",
    "V10__anchors",
    "V11__organisations",
    "V12__anchor_retries",
    "V13__sealed_capture_jobs",
    "V14__sealed_fields",
    "V15__location_places",
    "V16__nfc_tags",
    "V17__consumer_scans",
    "V18__nfc_counters_rise_scans_by_kind",
    "V19__access_tokens",
    "V20__verifiable_index",
    "V21__index_heads_everywhere",
    "V22__sealed_keys_bound_to_entries",
    "V23__recipient_keys",
    "V24__recalls",
    "V25__lookup_runs_find_class_recalls",
    "V26__sealed_decoy_secret",
    "V27__site_token_function",
    "V28__access_log",
    "V29__named_queries",
    "V30__subscriptions",
    "V31__access_grants",
    "V32__scheduled_subscriptions",
    "V33__lookup_tags",
    "V34__transfer_tags",
    "V35__declaration_tags",
    "V36__event_id_lookups",
    "V37__checkpoints_by_index",
    "V38__lookup_key_format",
    "V39__subscription_leases",
    "V40__receipt_tags",
    "V41__claim_tags",
    "V42__claim_pair_tags",
];

/// The migrations from `first` on, as an upgrade that lacks `first` applies them.
fn applied_from(first: &str) -> Vec<String> {
    let start = MIGRATIONS
        .iter()
        .position(|name| *name == first)
        .unwrap_or_else(|| panic!("no migration {first}"));
    MIGRATIONS[start..]
        .iter()
        .map(|name| (*name).to_owned())
        .collect()
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_rerunning_them_applies_nothing() {
    // A database that has never seen the migrations (not from the template).
    let db = TestDatabase::create_empty().await.unwrap();
    let mut client = db.connect().await.unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);

    let first = migrate(&mut client).await.unwrap();
    assert_eq!(first.applied.len(), first.known);
    assert!(
        first.applied.iter().any(|name| name == "V1__ledger"),
        "{first:?}"
    );
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'
             AND tablename IN ('event_packs', 'device_batches', 'tiles', 'checkpoints', 'signing_keys')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 5);

    let second = migrate(&mut client).await.unwrap();
    assert!(second.applied.is_empty(), "{second:?}");
}

#[tokio::test]
async fn a_database_whose_applied_migration_was_edited_is_refused() {
    let db = TestDatabase::create().await.unwrap();
    let mut client = db.connect().await.unwrap();
    // As if V1 had been applied from a different text (an edited migration).
    client
        .batch_execute("UPDATE refinery_schema_history SET checksum = '1' WHERE version = 1")
        .await
        .unwrap();
    assert!(migrate(&mut client).await.is_err());
}

#[tokio::test]
async fn the_ingest_role_cannot_update_delete_or_truncate_ledger_tables() {
    let db = TestDatabase::create().await.unwrap();
    let client = db.connect().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO event_packs VALUES (0, sha256('a'), ARRAY['{}']);
             INSERT INTO entry_bundles VALUES (0, 0, 1, '\\x000100');
             SET ROLE tagtrail_ingest;",
        )
        .await
        .unwrap();
    for table in [
        "event_packs",
        "entry_bundles",
        "device_batches",
        "tiles",
        "checkpoints",
        "signing_keys",
    ] {
        for sql in [
            format!("UPDATE {table} SET {} = {0}", first_column(table)),
            format!("DELETE FROM {table}"),
            format!("TRUNCATE {table}"),
        ] {
            let (code, message) = refusal(&client, &sql).await;
            assert_eq!(code, "42501", "{sql}: {message}");
            assert!(message.contains("permission denied"), "{sql}: {message}");
        }
    }
    // It may append and read.
    client
        .batch_execute(
            "INSERT INTO event_packs VALUES (1, sha256('b'), ARRAY['{}']);
             INSERT INTO entry_bundles VALUES (0, 1, 2, '\\x000101')",
        )
        .await
        .unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}

#[tokio::test]
async fn the_ingest_role_may_replace_lookup_runs_but_not_change_them_in_place() {
    let db = TestDatabase::create().await.unwrap();
    let client = db.connect().await.unwrap();
    client
        .batch_execute("SET ROLE tagtrail_ingest")
        .await
        .unwrap();
    // Merging runs inserts the merged run and deletes its inputs.
    client
        .batch_execute(
            "INSERT INTO lookup_runs (first_leaf, end_leaf, level, pairs, key_format)
                 VALUES (0, 1, 0, 1, 4);
             INSERT INTO lookup_pages SELECT run_id, 1, 7, 0, 7,
                 int8send(7) || int8send(0) || int8send(0) FROM lookup_runs;
             DELETE FROM lookup_pages; DELETE FROM lookup_runs;",
        )
        .await
        .unwrap();
    for sql in [
        "UPDATE lookup_runs SET level = 1",
        "UPDATE lookup_pages SET pairs = pairs",
        "TRUNCATE lookup_pages",
        "DELETE FROM event_time_ranges",
        "UPDATE index_watermark SET indexed_size = 0 WHERE false; DELETE FROM index_watermark",
        "DROP TABLE lookup_pages",
    ] {
        let (code, message) = refusal(&client, sql).await;
        assert_eq!(code, "42501", "{sql}: {message}");
        assert!(
            message.contains("permission denied") || message.contains("must be owner"),
            "{sql}: {message}"
        );
    }
    // A page that is not a whole number of pairs is refused.
    client
        .batch_execute(
            "INSERT INTO lookup_runs (first_leaf, end_leaf, level, pairs, key_format)
             VALUES (0, 1, 0, 1, 4)",
        )
        .await
        .unwrap();
    let (code, _) = refusal(
        &client,
        "INSERT INTO lookup_pages SELECT run_id, 1, 7, 0, 7, '\\x0102' FROM lookup_runs",
    )
    .await;
    assert_eq!(code, "23514");
}

#[tokio::test]
async fn the_reader_role_can_only_read() {
    let db = TestDatabase::create().await.unwrap();
    let client = db.connect().await.unwrap();
    client
        .batch_execute("SET ROLE tagtrail_reader")
        .await
        .unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
    for sql in [
        "INSERT INTO event_packs VALUES (0, sha256('a'), ARRAY['{}'])",
        "INSERT INTO entry_bundles VALUES (0, 0, 1, '\\x000100')",
    ] {
        let (code, _) = refusal(&client, sql).await;
        assert_eq!(code, "42501", "{sql}");
    }
}

#[tokio::test]
async fn triggers_refuse_changes_even_from_the_owner() {
    let db = TestDatabase::create().await.unwrap();
    // The superuser that ran the migrations owns the tables.
    let client = db.connect().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO event_packs VALUES (0, sha256('a'), ARRAY['{}']);
             INSERT INTO entry_bundles VALUES (0, 0, 1, '\\x000100');
             INSERT INTO checkpoints VALUES (1, sha256('r'), 'note');",
        )
        .await
        .unwrap();
    for table in [
        "event_packs",
        "entry_bundles",
        "device_batches",
        "tiles",
        "checkpoints",
        "signing_keys",
    ] {
        for (operation, sql) in [
            (
                "UPDATE",
                format!("UPDATE {table} SET {} = {0}", first_column(table)),
            ),
            ("DELETE", format!("DELETE FROM {table}")),
            ("TRUNCATE", format!("TRUNCATE {table} CASCADE")),
        ] {
            let (_, message) = refusal(&client, &sql).await;
            assert_eq!(
                message,
                format!("the ledger table {table} is append-only: {operation} is refused"),
                "{sql}"
            );
        }
    }
    let count: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1, "the row is still there");
}

fn first_column(table: &str) -> &'static str {
    match table {
        "event_packs" => "first_leaf",
        "entry_bundles" => "bundle_index",
        "device_batches" => "statement_hash",
        "tiles" => "level",
        "checkpoints" => "tree_size",
        _ => "verifier_key",
    }
}

/// Real leaf records of different lengths (site ids of 1 to 60 characters), one per entry.
fn leaf_records(count: u64) -> Vec<(EventHash, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let hash = EventHash::from_bytes([(i % 251) as u8; 32]);
            let site = SiteId::parse(&"s".repeat(1 + (i % 60) as usize)).unwrap();
            // Logs migrated from V4 were written with version 1 records.
            let record = LeafRecord::version_1(
                hash,
                UnixMillis::from_millis(1_700_000_000_000 + i),
                Attestation::Unattested { site },
            )
            .unwrap();
            (hash, record.encode())
        })
        .collect()
}

/// A database at V4 (leaf records in `events.leaf`) holding entries at `leaves`.
async fn v4_log(leaves: &[u64]) -> (TestDatabase, tokio_postgres::Client, Vec<Vec<u8>>) {
    let db = TestDatabase::create_empty().await.unwrap();
    let mut client = db.connect().await.unwrap();
    let report = migrate_to_version(&mut client, 4).await.unwrap();
    assert_eq!(
        report.applied.last().map(String::as_str),
        Some("V4__registry_generation")
    );
    let records = leaf_records(leaves.iter().max().map_or(0, |m| m + 1));
    let indexes: Vec<i64> = leaves.iter().map(|&l| l as i64).collect();
    let hashes: Vec<&[u8]> = leaves
        .iter()
        .map(|&l| records[l as usize].0.as_bytes().as_slice())
        .collect();
    let leaf_bytes: Vec<&[u8]> = leaves
        .iter()
        .map(|&l| records[l as usize].1.as_slice())
        .collect();
    let events: Vec<String> = leaves.iter().map(|l| format!("{{\"n\":{l}}}")).collect();
    client
        .execute(
            "INSERT INTO events (leaf_index, event_hash, leaf, event)
             SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[])",
            &[&indexes, &hashes, &leaf_bytes, &events],
        )
        .await
        .unwrap();
    let records = records.into_iter().map(|(_, record)| record).collect();
    (db, client, records)
}

async fn has_leaf_column(client: &tokio_postgres::Client) -> bool {
    let columns: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.columns
             WHERE table_name = 'events' AND column_name = 'leaf'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    columns == 1
}

#[tokio::test]
async fn v5_moves_the_stored_leaf_records_into_entry_bundles_byte_for_byte() {
    let leaves: Vec<u64> = (0..600).collect();
    let (db, mut client, records) = v4_log(&leaves).await;
    let report = migrate(&mut client).await.unwrap();
    assert_eq!(report.applied, applied_from("V5__entry_bundles"));

    let rows = client
        .query(
            "SELECT bundle_index, first, width FROM entry_bundles ORDER BY bundle_index, first",
            &[],
        )
        .await
        .unwrap();
    let shape: Vec<(i64, i16, i16)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(shape, [(0, 0, 256), (1, 0, 256), (2, 0, 88)]);
    assert_eq!(stored_leaf_records(&client).await, records);
    assert!(
        !has_leaf_column(&client).await,
        "events no longer holds leaf records"
    );

    // A reader reads each entry's record back from its bundle.
    let reader = ledger_store::Reader::connect(db.url()).unwrap();
    for leaf in [0u64, 255, 256, 511, 512, 599] {
        let entry = reader
            .entry(LeafIndex::new(leaf).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            entry.record.encode(),
            records[leaf as usize],
            "entry {leaf}"
        );
        assert_eq!(&*entry.event, format!("{{\"n\":{leaf}}}").as_str());
    }
}

#[tokio::test]
async fn v5_refuses_a_log_with_a_gap_and_changes_nothing() {
    let leaves: Vec<u64> = (0..300).filter(|&l| l != 270).collect();
    let (_db, mut client, _) = v4_log(&leaves).await;
    let error = migrate(&mut client).await.unwrap_err();
    let message = format!("{error:?}");
    assert!(
        message.contains("the events of entry bundle 1 are not consecutive"),
        "{message}"
    );
    assert!(
        has_leaf_column(&client).await,
        "the migration was rolled back"
    );
    let bundles: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'entry_bundles'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(bundles, 0);
}

/// A database at V5 (one `events` row per entry) holding entries at `leaves`; their rows.
async fn v5_log(
    leaves: &[u64],
) -> (
    TestDatabase,
    tokio_postgres::Client,
    Vec<(i64, Vec<u8>, String)>,
) {
    let db = TestDatabase::create_empty().await.unwrap();
    let mut client = db.connect().await.unwrap();
    let report = migrate_to_version(&mut client, 5).await.unwrap();
    assert_eq!(
        report.applied.last().map(String::as_str),
        Some("V5__entry_bundles")
    );
    let rows: Vec<(i64, Vec<u8>, String)> = leaves
        .iter()
        .map(|&leaf| {
            // Events of different lengths, some with characters that need escaping in COPY text.
            let event = format!(
                "{{\"n\":{leaf},\"pad\":\"{}\\t\\u00e9\"}}",
                "x".repeat(leaf as usize)
            );
            (leaf as i64, vec![(leaf % 251) as u8; 32], event)
        })
        .collect();
    for (leaf, hash, event) in &rows {
        client
            .execute(
                "INSERT INTO events (leaf_index, event_hash, event) VALUES ($1, $2, $3)",
                &[leaf, hash, event],
            )
            .await
            .unwrap();
    }
    (db, client, rows)
}

#[tokio::test]
async fn v6_packs_the_stored_events_eight_to_a_pack_and_the_view_shows_them_as_before() {
    let leaves: Vec<u64> = (0..20).collect();
    let (_db, mut client, rows) = v5_log(&leaves).await;
    let report = migrate(&mut client).await.unwrap();
    assert_eq!(report.applied, applied_from("V6__event_packs"));

    let packs: Vec<(i64, i32)> = client
        .query(
            "SELECT first_leaf, cardinality(events) FROM event_packs ORDER BY first_leaf",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(packs, [(0, 8), (8, 8), (16, 4)]);
    let stored: Vec<(i64, Vec<u8>, String)> = client
        .query(
            "SELECT leaf_index, event_hash, event FROM events ORDER BY leaf_index",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(stored, rows);
}

#[tokio::test]
async fn v6_refuses_a_log_with_a_gap_and_changes_nothing() {
    let leaves: Vec<u64> = (0..20).filter(|&l| l != 13).collect();
    let (_db, mut client, _) = v5_log(&leaves).await;
    let error = migrate(&mut client).await.unwrap_err();
    let message = format!("{error:?}");
    assert!(
        message.contains("the log has a gap before entry 14"),
        "{message}"
    );
    let packs: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'event_packs'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(packs, 0, "the migration was rolled back");
    let events: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 19);
}

/// A migration as refinery reads it, from its name and text.
fn migration(name: &str, text: &str) -> refinery::Migration {
    refinery::Migration::unapplied(name, text).unwrap()
}

async fn constraint_definitions(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
    client
        .query(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = $1::text::regclass AND contype = 'c'",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_database_migrated_with_earlier_texts_of_v3_and_v6_is_restamped_and_brought_up_to_date() {
    // A database migrated by the builds that had the earlier texts of V3 (ccc72cc) and V6
    // (0cba27d), both edited after they landed.
    let db = TestDatabase::create_empty().await.unwrap();
    let mut client = db.connect().await.unwrap();
    let earlier = [
        migration("V1__ledger", include_str!("../../../sql/V1__ledger.sql")),
        migration("V2__ingest", include_str!("../../../sql/V2__ingest.sql")),
        migration(
            "V3__lookup_runs",
            include_str!("../../superseded/V3__lookup_runs.ccc72cc.sql"),
        ),
        migration(
            "V4__registry_generation",
            include_str!("../../../sql/V4__registry_generation.sql"),
        ),
        migration(
            "V5__entry_bundles",
            include_str!("../../../sql/V5__entry_bundles.sql"),
        ),
        migration(
            "V6__event_packs",
            include_str!("../../superseded/V6__event_packs.0cba27d.sql"),
        ),
    ];
    refinery::Runner::new(&earlier)
        .run_async(&mut client)
        .await
        .unwrap();
    let kinds = constraint_definitions(&client, "lookup_pages").await;
    assert!(kinds.iter().any(|c| c.contains("kind <= 3")), "{kinds:?}");

    let report = migrate(&mut client).await.unwrap();
    assert_eq!(report.repaired, ["V3__lookup_runs", "V6__event_packs"]);
    assert_eq!(report.applied, applied_from("V7__superseded_migrations"));
    // The schema is the landed one: no V1 event_hashes table, page kind 4 allowed, packs bounded.
    let event_hashes: bool = client
        .query_one("SELECT to_regclass('event_hashes') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!event_hashes);
    let kinds = constraint_definitions(&client, "lookup_pages").await;
    assert!(kinds.iter().any(|c| c.contains("kind <= 4")), "{kinds:?}");
    assert!(!kinds.iter().any(|c| c.contains("kind <= 3")), "{kinds:?}");
    let packs = constraint_definitions(&client, "event_packs").await;
    assert!(
        packs
            .iter()
            .any(|c| c.contains("cardinality(events) <= 256")),
        "{packs:?}"
    );
    let store = Writer::connect(db.url()).unwrap();
    store.migration_status().await.unwrap();
    // Migrating again changes nothing.
    let again = migrate(&mut client).await.unwrap();
    assert!(
        again.repaired.is_empty() && again.applied.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn v7_changes_nothing_on_a_database_migrated_with_the_landed_texts() {
    let db = TestDatabase::create_empty().await.unwrap();
    let mut client = db.connect().await.unwrap();
    migrate_to_version(&mut client, 6).await.unwrap();
    let before = (
        constraint_definitions(&client, "lookup_pages").await,
        constraint_definitions(&client, "event_packs").await,
    );
    let report = migrate_to_version(&mut client, 7).await.unwrap();
    assert!(report.repaired.is_empty(), "{report:?}");
    assert_eq!(report.applied, ["V7__superseded_migrations"]);
    let after = (
        constraint_definitions(&client, "lookup_pages").await,
        constraint_definitions(&client, "event_packs").await,
    );
    assert_eq!(before, after);
    // V33 is the only later migration to change them: pairs of 24 bytes (with their tags).
    let report = migrate(&mut client).await.unwrap();
    assert_eq!(report.applied, applied_from("V8__error_declarations"));
    let (pages, packs) = after;
    let tagged: Vec<String> = pages
        .into_iter()
        .map(|check| check.replace("% 16", "% 24"))
        .collect();
    assert_eq!(
        (
            constraint_definitions(&client, "lookup_pages").await,
            constraint_definitions(&client, "event_packs").await,
        ),
        (tagged, packs)
    );
}

/// What a database's NFC and scan schema is: whether a counter may go down, whether readers may
/// read tag UIDs, and the columns of the scans' item index.
async fn nfc_and_scan_schema(client: &tokio_postgres::Client) -> (bool, bool, String) {
    let trigger: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'nfc_tags_counter_rises')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let reader_sees_uid: bool = client
        .query_one(
            "SELECT has_column_privilege('tagtrail_reader', 'nfc_tags', 'uid', 'SELECT')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let index: String = client
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'consumer_scans_item'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    (trigger, reader_sees_uid, index)
}

/// V16 and V17 were edited after they landed (5256de2): a database migrated with the edited texts
/// is re-stamped, and V18 (idempotent) leaves it as it is; one migrated with the landed texts gets
/// the same schema from V18.
#[tokio::test]
async fn databases_migrated_with_either_text_of_v16_and_v17_end_with_one_schema() {
    let edited = TestDatabase::create_empty().await.unwrap();
    let mut client = edited.connect().await.unwrap();
    migrate_to_version(&mut client, 15).await.unwrap();
    let earlier = [
        migration(
            "V16__nfc_tags",
            include_str!("../../superseded/V16__nfc_tags.5256de2.sql"),
        ),
        migration(
            "V17__consumer_scans",
            include_str!("../../superseded/V17__consumer_scans.5256de2.sql"),
        ),
    ];
    // Only these two: the ones it applied before are the landed texts, not in this list.
    refinery::Runner::new(&earlier)
        .set_abort_missing(false)
        .run_async(&mut client)
        .await
        .unwrap();
    let before = nfc_and_scan_schema(&client).await;
    let report = migrate(&mut client).await.unwrap();
    assert_eq!(report.repaired, ["V16__nfc_tags", "V17__consumer_scans"]);
    assert_eq!(
        report.applied,
        applied_from("V18__nfc_counters_rise_scans_by_kind")
    );
    let after = nfc_and_scan_schema(&client).await;
    assert_eq!(before, after);
    assert!(after.0 && !after.1, "{after:?}");
    assert!(
        after.2.contains("(item, kind, scanned_at DESC)"),
        "{after:?}"
    );
    Writer::connect(edited.url())
        .unwrap()
        .migration_status()
        .await
        .unwrap();

    let landed = TestDatabase::create_empty().await.unwrap();
    let mut client = landed.connect().await.unwrap();
    migrate_to_version(&mut client, 17).await.unwrap();
    let before = nfc_and_scan_schema(&client).await;
    assert!(!before.0 && before.1, "{before:?}");
    let report = migrate(&mut client).await.unwrap();
    assert!(report.repaired.is_empty(), "{report:?}");
    assert_eq!(nfc_and_scan_schema(&client).await, after);
}

/// A database that applied V20 as 82e9836 wrote it (before V20 landed: no `retired` flag, no
/// index heads) is re-stamped, and V21 gives it the landed schema: its indexer and checkpointer
/// roles work as on a database that ran the landed V20, where V21 changes nothing.
#[tokio::test]
async fn databases_migrated_with_either_text_of_v20_end_with_one_schema() {
    /// The index tables' columns and the roles' privileges on them.
    async fn index_schema(client: &tokio_postgres::Client) -> Vec<String> {
        client
            .query(
                "SELECT table_name || '.' || column_name || ' ' || data_type
                 FROM information_schema.columns
                 WHERE table_name IN ('index_runs', 'index_heads')
                 UNION ALL
                 SELECT grantee || ' ' || privilege_type || ' ' || table_name
                 FROM information_schema.role_table_grants
                 WHERE table_name IN ('index_runs', 'index_heads')
                   AND grantee IN ('tagtrail_ingest', 'tagtrail_reader')
                 UNION ALL
                 SELECT grantee || ' ' || privilege_type || ' ' || table_name || '.' || column_name
                 FROM information_schema.column_privileges
                 WHERE table_name = 'index_runs' AND column_name = 'retired'
                   AND grantee = 'tagtrail_ingest' AND privilege_type = 'UPDATE'
                 ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    let edited = TestDatabase::create_empty().await.unwrap();
    let mut client = edited.connect().await.unwrap();
    migrate_to_version(&mut client, 19).await.unwrap();
    let earlier = [migration(
        "V20__verifiable_index",
        include_str!("../../superseded/V20__verifiable_index.82e9836.sql"),
    )];
    refinery::Runner::new(&earlier)
        .set_abort_missing(false)
        .run_async(&mut client)
        .await
        .unwrap();
    assert!(
        !index_schema(&client)
            .await
            .iter()
            .any(|line| line.starts_with("index_heads")),
        "the earlier text has no heads"
    );
    let report = migrate(&mut client).await.unwrap();
    assert_eq!(report.repaired, ["V20__verifiable_index"]);
    assert_eq!(report.applied, applied_from("V21__index_heads_everywhere"));
    let after = index_schema(&client).await;
    assert!(
        after.contains(&"index_runs.retired boolean".to_owned())
            && after.contains(&"index_heads.head bytea".to_owned())
            && after.contains(&"tagtrail_ingest UPDATE index_runs.retired".to_owned())
            && after.contains(&"tagtrail_reader SELECT index_heads".to_owned()),
        "{after:?}"
    );
    Writer::connect(edited.url())
        .unwrap()
        .migration_status()
        .await
        .unwrap();

    let landed = TestDatabase::create_empty().await.unwrap();
    let mut client = landed.connect().await.unwrap();
    migrate_to_version(&mut client, 20).await.unwrap();
    let before = index_schema(&client).await;
    let report = migrate(&mut client).await.unwrap();
    assert!(report.repaired.is_empty(), "{report:?}");
    assert_eq!(report.applied, applied_from("V21__index_heads_everywhere"));
    assert_eq!(
        index_schema(&client).await,
        before,
        "a no-op on the landed V20"
    );
    assert_eq!(before, after);
}
