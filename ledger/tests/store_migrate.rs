//! The migrations of `sql/` against a real PostgreSQL: they apply, re-running them changes nothing,
//! and the ledger tables are append-only for the service role and, through triggers, for everyone.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ledger::store::migrate;
use ledger::store::testing::TestDatabase;

/// The SQLSTATE of the refusal, and whether the message says why.
async fn refusal(client: &tokio_postgres::Client, sql: &str) -> (String, String) {
    let error = client
        .batch_execute(sql)
        .await
        .expect_err(&format!("`{sql}` should have been refused"));
    let db = error.as_db_error().expect("a database error");
    (db.code().code().to_owned(), db.message().to_owned())
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
             AND tablename IN ('events', 'device_batches', 'tiles', 'checkpoints', 'signing_keys')",
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
            "INSERT INTO events VALUES (0, sha256('a'), '\\x00', '{}');
             SET ROLE tagtrail_ingest;",
        )
        .await
        .unwrap();
    for table in [
        "events",
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
        .batch_execute("INSERT INTO events VALUES (1, sha256('b'), '\\x00', '{}')")
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
            "INSERT INTO lookup_runs (first_leaf, end_leaf, level, pairs) VALUES (0, 1, 0, 1);
             INSERT INTO lookup_pages SELECT run_id, 1, 7, 0, 7, int8send(7) || int8send(0) FROM lookup_runs;
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
            "INSERT INTO lookup_runs (first_leaf, end_leaf, level, pairs) VALUES (0, 1, 0, 1)",
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
    let (code, _) = refusal(
        &client,
        "INSERT INTO events VALUES (0, sha256('a'), '\\x00', '{}')",
    )
    .await;
    assert_eq!(code, "42501");
}

#[tokio::test]
async fn triggers_refuse_changes_even_from_the_owner() {
    let db = TestDatabase::create().await.unwrap();
    // The superuser that ran the migrations owns the tables.
    let client = db.connect().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO events VALUES (0, sha256('a'), '\\x00', '{}');
             INSERT INTO checkpoints VALUES (1, sha256('r'), 'note');",
        )
        .await
        .unwrap();
    for table in [
        "events",
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
        "events" => "leaf_index",
        "device_batches" => "statement_hash",
        "tiles" => "level",
        "checkpoints" => "tree_size",
        _ => "verifier_key",
    }
}
