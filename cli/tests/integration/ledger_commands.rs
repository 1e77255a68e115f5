//! `tagtrail migrate`, `tagtrail audit` and `tagtrail keygen`, run as an operator would run them,
//! against a real PostgreSQL.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use ledger::checkpoint::{Checkpoint, Origin, TrustedLog};
use ledger::note::{NoteSignerKey, NoteVerifierKey, NoteVerifiers};
use ledger::{RootHash, TreeSize};
use ledger_store::testing::{EventFactory, TestDatabase, change_event_sql};
use ledger_store::{Checkpointer, Sequencer, Writer};

use crate::run::{TempDir, tagtrail, text};

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read_and_a_verifier_key_that_verifies_checkpoints()
 {
    let dir = TempDir::new("keygen");
    let private = dir.0.join("log.key");
    let output = tagtrail(&[
        "keygen",
        "--name",
        "tagtrail.test/log",
        "--private-key",
        private.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let private_text = std::fs::read_to_string(&private).unwrap();
    let public_text = std::fs::read_to_string(dir.0.join("log.key.pub")).unwrap();
    assert_eq!(
        public_text,
        text(&output.stdout),
        "the verifier key is also printed"
    );
    let signer = NoteSignerKey::parse(private_text.trim_end()).unwrap();
    let verifier = NoteVerifierKey::parse(public_text.trim_end()).unwrap();
    assert_eq!(verifier.name().as_str(), "tagtrail.test/log");
    assert_eq!(signer.verifier_key(), verifier);

    let origin = Origin::parse("tagtrail.test/log").unwrap();
    let checkpoint = Checkpoint::new(
        origin.clone(),
        TreeSize::from(7),
        RootHash::from_bytes([1; 32]),
    );
    let note = checkpoint.sign(&[&signer]).unwrap().to_message();
    let trusted = TrustedLog::new(origin, NoteVerifiers::new(vec![verifier]).unwrap());
    assert_eq!(
        trusted.open_checkpoint(&note).unwrap().checkpoint(),
        &checkpoint
    );
}

#[test]
fn keygen_never_overwrites_a_key() {
    let dir = TempDir::new("keygen-again");
    let private = dir.0.join("log.key");
    let args = [
        "keygen",
        "--name",
        "tagtrail.test/log",
        "--private-key",
        private.to_str().unwrap(),
    ];
    assert!(tagtrail(&args).status.success());
    let first = std::fs::read_to_string(&private).unwrap();
    let again = tagtrail(&args);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read_to_string(&private).unwrap(), first);
}

#[test]
fn keygen_refuses_a_name_with_spaces() {
    let output = tagtrail(&[
        "keygen",
        "--name",
        "my log",
        "--private-key",
        "/nonexistent/x",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--name"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_applies_the_migrations_once() {
    let db = TestDatabase::create_empty().await.unwrap();
    let first = tagtrail(&["migrate", "--database-url", db.url()]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("applied V1__ledger"),
        "{}",
        text(&first.stdout)
    );
    let second = tagtrail(&["migrate", "--database-url", db.url()]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).starts_with("up to date"),
        "{}",
        text(&second.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_exits_0_on_a_sound_ledger_and_1_naming_the_first_bad_entry() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let signer = NoteSignerKey::from_seed(
        ledger::note::KeyName::parse("tagtrail.test/log").unwrap(),
        &[3; 32],
    );
    let checkpointer = Checkpointer::new(
        &store,
        Origin::parse("tagtrail.test/log").unwrap(),
        Arc::new(signer),
    );
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    for _ in 0..3 {
        sequencer.append(device.next_batch(120)).await.unwrap();
        checkpointer.sign_latest().await.unwrap();
    }
    sequencer.shutdown().await;
    ledger_store::Indexer::new(&store).catch_up().await.unwrap();

    let sound = tagtrail(&["audit", "--database-url", db.url()]);
    assert_eq!(
        sound.status.code(),
        Some(0),
        "{}{}",
        text(&sound.stdout),
        text(&sound.stderr)
    );
    assert!(
        text(&sound.stdout).starts_with("ok: 360 entries"),
        "{}",
        text(&sound.stdout)
    );
    assert!(
        text(&sound.stdout).contains(" runs over 360 entries, ")
            && text(&sound.stdout).contains("pairs recomputed from the events"),
        "{}",
        text(&sound.stdout)
    );
    // The factory's device is not in the registry: its batches are counted, not checked.
    assert!(
        text(&sound.stdout).contains(
            "3 device batches (0 signatures verified against the registry, 3 by devices it holds no key for)"
        ),
        "{}",
        text(&sound.stdout)
    );

    let client = db.connect().await.unwrap();
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica; {}",
            change_event_sql(200, |event| format!(
                "replace({event}, 'in_transit', 'in_progress')"
            ))
        ))
        .await
        .unwrap();
    let bad = tagtrail(&["audit", "--database-url", db.url()]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}{}",
        text(&bad.stdout),
        text(&bad.stderr)
    );
    assert!(
        text(&bad.stdout).starts_with("FAILED: entry 200: "),
        "{}",
        text(&bad.stdout)
    );

    // Without event hashes the changed field goes unnoticed, as documented.
    let fast = tagtrail(&["audit", "--database-url", db.url(), "--skip-event-hashes"]);
    assert_eq!(fast.status.code(), Some(0), "{}", text(&fast.stdout));
    assert!(
        text(&fast.stdout).contains("NOT recomputed"),
        "{}",
        text(&fast.stdout)
    );

    // A run of the verifiable index whose root was replaced: the audit recomputes it and fails.
    client
        .execute(
            "UPDATE index_runs SET root = sha256(root) WHERE first_leaf = 0",
            &[],
        )
        .await
        .unwrap();
    let lying = tagtrail(&["audit", "--database-url", db.url(), "--skip-event-hashes"]);
    assert_eq!(lying.status.code(), Some(1), "{}", text(&lying.stdout));
    assert!(
        text(&lying.stdout).contains("FAILED: verifiable index run 0..")
            && text(&lying.stdout).contains(": its root is "),
        "{}",
        text(&lying.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_log_writes_the_tiles_then_only_what_the_log_grew_by() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let dir = TempDir::new("export-log");
    let out = dir.0.join("log");
    let export = || {
        tagtrail(&[
            "export-log",
            "--database-url",
            db.url(),
            "--dir",
            out.to_str().unwrap(),
        ])
    };
    // No checkpoint yet: nothing to publish, said plainly.
    let empty = export();
    assert_eq!(empty.status.code(), Some(2), "{}", text(&empty.stdout));
    assert!(
        text(&empty.stderr).contains("no signed checkpoint"),
        "{}",
        text(&empty.stderr)
    );

    let signer = NoteSignerKey::from_seed(
        ledger::note::KeyName::parse("tagtrail.test/log").unwrap(),
        &[3; 32],
    );
    let checkpointer = Checkpointer::new(
        &store,
        Origin::parse("tagtrail.test/log").unwrap(),
        Arc::new(signer),
    );
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    sequencer.append(device.next_batch(300)).await.unwrap();
    checkpointer.sign_latest().await.unwrap();
    let first = export();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    // 300 entries: level 0 tiles 000 (full) and 001.p/44, level 1 tile 000.p/1, two entry bundles.
    assert_eq!(
        text(&first.stdout).trim(),
        format!(
            "exported the log at 300 entries to {}: 3 tiles and 2 entry bundles written, 0 files already there",
            out.display()
        )
    );
    for name in [
        "checkpoint",
        "tile/0/000",
        "tile/0/001.p/44",
        "tile/1/000.p/1",
        "tile/entries/000",
        "tile/entries/001.p/44",
    ] {
        assert!(out.join(name).is_file(), "{name}");
    }
    let note = std::fs::read_to_string(out.join("checkpoint")).unwrap();
    assert_eq!(note.lines().nth(1), Some("300"));

    sequencer.append(device.next_batch(10)).await.unwrap();
    checkpointer.sign_latest().await.unwrap();
    sequencer.shutdown().await;
    let second = export();
    // Only level 0's partial tile grew (001.p/54) and the partial entry bundle; level 1 still holds
    // one hash (000.p/1), kept with the full tile and entry bundle 000.
    assert_eq!(
        text(&second.stdout).trim(),
        format!(
            "exported the log at 310 entries to {}: 1 tiles and 1 entry bundles written, 3 files already there",
            out.display()
        )
    );
    assert!(out.join("tile/0/001.p/54").is_file());
}

#[test]
fn audit_without_a_reachable_database_exits_2() {
    let output = tagtrail(&[
        "audit",
        "--database-url",
        "postgres://nobody:x@127.0.0.1:1/none",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("error: "),
        "{}",
        text(&output.stderr)
    );
}
