//! Rotation of the checkpoint key (docs/OPERATIONS.md, "Checkpoint key rotation"): ingest
//! restarted with the new key as an additional key, then with the keys swapped, then with the new
//! key alone. Every checkpoint carries the primary key's signature first; verifiers trusting
//! either key, or both, accept the checkpoints of the overlap; ingest starts at every step,
//! although its published-checkpoint file was signed by the old key, and still refuses a database
//! restored from an older backup across the swap.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;
use crate::restore;

use std::path::{Path, PathBuf};

use capture_client::Credential;
use common::{
    KeyDir, LOG_NAME, SERVICE_ROLE, TestApp, capture, document, temp_dir, write_checkpoint_key_as,
};
use ingest::{Application, Config};
use ledger::checkpoint::{CheckpointError, Origin, TrustedLog};
use ledger::note::{KeyId, Note, NoteError, NoteSignerKey, NoteVerifiers};
use ledger_store::testing::TestDatabase;
use restore::{pg_dump, ready_says, restore_dump, signed};
use secrecy::SecretString;

const HERE: &str = "urn:epc:id:sgln:0614141.00777.0";

/// The log's old key and its new one (same name, the origin), as `tagtrail keygen` writes them.
struct Keys {
    dir: KeyDir,
    old: PathBuf,
    new: PathBuf,
    old_key: NoteSignerKey,
    new_key: NoteSignerKey,
}

impl Keys {
    fn new(tag: &str) -> Self {
        let dir = temp_dir(tag);
        let (old, old_key) = write_checkpoint_key_as(&dir.0, "old.key", LOG_NAME, 42);
        let (new, new_key) = write_checkpoint_key_as(&dir.0, "new.key", LOG_NAME, 43);
        Self {
            dir,
            old,
            new,
            old_key,
            new_key,
        }
    }

    /// Settings signing with `primary`, then `additional`.
    fn signing(&self, primary: &Path, additional: &[&Path]) -> impl FnOnce(&mut Config) + use<> {
        let primary = primary.to_owned();
        let additional: Vec<PathBuf> = additional.iter().map(|path| path.to_path_buf()).collect();
        move |config: &mut Config| {
            config.ledger.checkpoint_key_file = primary;
            config.ledger.additional_checkpoint_key_files = additional;
        }
    }
}

/// The published-checkpoint file next to a key, by default.
fn published_of(key: &Path) -> PathBuf {
    ingest::config::default_published_file(key)
}

/// The key ids of a note's signatures, in order.
fn signers(note: &str) -> Vec<KeyId> {
    Note::parse(note)
        .unwrap()
        .signatures()
        .iter()
        .map(|signature| signature.id())
        .collect()
}

/// A verifier of the test log trusting `keys`.
fn trusting(keys: &[&NoteSignerKey]) -> TrustedLog {
    TrustedLog::new(
        Origin::parse(LOG_NAME).unwrap(),
        NoteVerifiers::new(keys.iter().map(|key| key.verifier_key()).collect()).unwrap(),
    )
}

/// The verifier keys in `signing_keys`, in the order they were added.
async fn signing_keys(admin: &tokio_postgres::Client) -> Vec<String> {
    admin
        .query(
            "SELECT verifier_key FROM signing_keys ORDER BY added_at, verifier_key",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_signs_with_both_keys_primary_first_then_with_the_new_key_alone() {
    let keys = Keys::new("rotation");
    let (old_id, new_id) = (keys.old_key.id(), keys.new_key.id());
    let (old_verifier, new_verifier) = (
        keys.old_key.verifier_key().to_string(),
        keys.new_key.verifier_key().to_string(),
    );
    let db = TestDatabase::create().await.unwrap();

    // Before: the old key alone.
    let mut app = TestApp::spawn_on(db, keys.signing(&keys.old, &[])).await;
    let site = app.site("site-a", &[HERE]).await;
    let token = app.token(&site).await;
    let client = app.client(Credential::Token(token.clone()));
    assert_eq!(
        capture(&client, document(&[1, 2, 3], HERE), false)
            .await
            .status,
        202
    );
    let note = signed(&app.admin, 3).await;
    assert_eq!(signers(&note), [old_id]);
    assert_eq!(
        signing_keys(&app.admin).await,
        std::slice::from_ref(&old_verifier)
    );
    let db = app.stop().await;

    // The new key added: every checkpoint carries both signatures, the old (primary) key's first,
    // and verifies for a verifier trusting either key or both.
    let app = TestApp::spawn_on(db, keys.signing(&keys.old, &[&keys.new])).await;
    ready_says(&app.address, 200, "ready").await;
    let client = app.client(Credential::Token(token.clone()));
    assert_eq!(
        capture(&client, document(&[4, 5], HERE), false)
            .await
            .status,
        202
    );
    let note = signed(&app.admin, 5).await;
    assert_eq!(signers(&note), [old_id, new_id]);
    for trusted in [
        trusting(&[&keys.old_key]),
        trusting(&[&keys.new_key]),
        trusting(&[&keys.old_key, &keys.new_key]),
    ] {
        let verified = trusted.open_checkpoint(&note).unwrap();
        assert_eq!(verified.checkpoint().size().get(), 5);
        assert_eq!(verified.signed_by().len(), trusted.keys().keys().len());
    }
    assert_eq!(
        signing_keys(&app.admin).await.len(),
        2,
        "both keys registered"
    );
    assert!(signing_keys(&app.admin).await.contains(&new_verifier));
    assert_eq!(
        std::fs::read_to_string(published_of(&keys.old)).unwrap(),
        note
    );
    let db = app.stop().await;

    // Swapped: the new key is the primary (its signature first, the one anchors carry). Its
    // published-checkpoint file is carried over from the old key's.
    assert!(!published_of(&keys.new).exists());
    let app = TestApp::spawn_on(db, keys.signing(&keys.new, &[&keys.old])).await;
    ready_says(&app.address, 200, "ready").await;
    assert_eq!(
        std::fs::read_to_string(published_of(&keys.new)).unwrap(),
        note
    );
    let client = app.client(Credential::Token(token.clone()));
    assert_eq!(
        capture(&client, document(&[6, 7], HERE), false)
            .await
            .status,
        202
    );
    let note = signed(&app.admin, 7).await;
    assert_eq!(signers(&note), [new_id, old_id]);
    for trusted in [
        trusting(&[&keys.old_key]),
        trusting(&[&keys.new_key]),
        trusting(&[&keys.new_key, &keys.old_key]),
    ] {
        assert!(trusted.open_checkpoint(&note).is_ok());
    }
    let db = app.stop().await;

    // The old key retired: the new key alone. Checkpoints signed before stay verifiable with the
    // old key; the new ones only with the new key.
    let app = TestApp::spawn_on(db, keys.signing(&keys.new, &[])).await;
    ready_says(&app.address, 200, "ready").await;
    let client = app.client(Credential::Token(token));
    assert_eq!(
        capture(&client, document(&[8], HERE), false).await.status,
        202
    );
    let note = signed(&app.admin, 8).await;
    assert_eq!(signers(&note), [new_id]);
    assert!(trusting(&[&keys.new_key]).open_checkpoint(&note).is_ok());
    assert!(
        trusting(&[&keys.old_key, &keys.new_key])
            .open_checkpoint(&note)
            .is_ok()
    );
    assert_eq!(
        trusting(&[&keys.old_key])
            .open_checkpoint(&note)
            .unwrap_err(),
        CheckpointError::Note(NoteError::NoTrustedSignature)
    );
    assert_eq!(
        std::fs::read_to_string(published_of(&keys.new)).unwrap(),
        note
    );
    let mut registered = signing_keys(&app.admin).await;
    registered.sort();
    let mut expected = vec![old_verifier, new_verifier];
    expected.sort();
    assert_eq!(registered, expected, "a retired key stays registered");
    app.stop().await;
    drop(keys.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_the_keys_keeps_the_published_checkpoint_so_an_older_backup_is_still_refused() {
    let keys = Keys::new("swap-restore");
    let dumps = temp_dir("swap-dumps");
    let (old_dump, new_dump) = (dumps.0.join("old.dump"), dumps.0.join("new.dump"));
    let db = TestDatabase::create().await.unwrap();

    // Three entries signed by the old key; a backup; two more signed by both keys.
    let mut app = TestApp::spawn_on(db, keys.signing(&keys.old, &[&keys.new])).await;
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    assert_eq!(
        capture(&client, document(&[1, 2, 3], HERE), false)
            .await
            .status,
        202
    );
    signed(&app.admin, 3).await;
    pg_dump(app.db.url(), &old_dump).await;
    assert_eq!(
        capture(&client, document(&[4, 5], HERE), false)
            .await
            .status,
        202
    );
    signed(&app.admin, 5).await;
    pg_dump(app.db.url(), &new_dump).await;
    let db = app.stop().await;

    // The older backup restored while the keys swap roles: the new primary key's file is the old
    // one's, carried over, and ingest refuses.
    restore_dump(&db, &old_dump).await;
    let app = TestApp::spawn_on(db, keys.signing(&keys.new, &[&keys.old])).await;
    let body = ready_says(&app.address, 503, "holds 3 entries, fewer than the 5").await;
    assert!(
        body.contains(&published_of(&keys.new).display().to_string()),
        "{body}"
    );
    let db = app.stop().await;

    // The newer backup: signing resumes, with the new key first.
    restore_dump(&db, &new_dump).await;
    let app = TestApp::spawn_on(db, keys.signing(&keys.new, &[&keys.old])).await;
    ready_says(&app.address, 200, "ready").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_checkpoint_signed_only_by_a_retired_key_does_not_block_the_new_key() {
    // An operator who skipped the overlap: the old key alone, then the new key alone, with the
    // published-checkpoint file at a path of its own. The file holds a checkpoint signed by the
    // old key only, which the database's signing_keys lists.
    let keys = Keys::new("skipped-overlap");
    let published = keys.dir.0.join("log.published");
    let alone = |key: &Path| {
        let (key, published) = (key.to_owned(), published.clone());
        move |config: &mut Config| {
            config.ledger.checkpoint_key_file = key;
            config.ledger.published_checkpoint_file = Some(published);
        }
    };
    let db = TestDatabase::create().await.unwrap();
    let mut app = TestApp::spawn_on(db, alone(&keys.old)).await;
    let site = app.site("site-a", &[HERE]).await;
    let token = app.token(&site).await;
    let client = app.client(Credential::Token(token.clone()));
    assert_eq!(
        capture(&client, document(&[1, 2], HERE), false)
            .await
            .status,
        202
    );
    let note = signed(&app.admin, 2).await;
    assert_eq!(std::fs::read_to_string(&published).unwrap(), note);
    let db = app.stop().await;

    // Without the database, the retired key cannot be known: start-up fails, saying so.
    let mut config = Config::new(
        SecretString::from("postgres://nobody:nothing@127.0.0.1:1/tagtrail".to_owned()),
        keys.new.clone(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    config.database.connect_timeout = std::time::Duration::from_millis(500);
    config.ledger.published_checkpoint_file = Some(published.clone());
    let error = match Application::build(config).await {
        Ok(_) => panic!("ingest started without checking its published checkpoint"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains(&published.display().to_string()), "{error}");
    assert!(
        error.contains("signed by none of the configured checkpoint keys"),
        "{error}"
    );

    // With the database: the old key is in signing_keys, the file verifies, the new key signs.
    let app = TestApp::spawn_on(db, alone(&keys.new)).await;
    ready_says(&app.address, 200, "ready").await;
    let client = app.client(Credential::Token(token));
    assert_eq!(
        capture(&client, document(&[3], HERE), false).await.status,
        202
    );
    let note = signed(&app.admin, 3).await;
    assert_eq!(signers(&note), [keys.new_key.id()]);
    assert_eq!(std::fs::read_to_string(&published).unwrap(), note);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_additional_key_that_is_missing_repeated_or_named_otherwise_stops_start_up_naming_it() {
    let keys = Keys::new("bad-keys");
    let db = TestDatabase::create().await.unwrap();
    let url = db
        .login_role(SERVICE_ROLE, "tagtrail_ingest")
        .await
        .unwrap();
    let dir = &keys.dir.0;
    let copy = dir.join("old-copy.key");
    std::fs::copy(&keys.old, &copy).unwrap();
    let (other_name, _) = write_checkpoint_key_as(dir, "other.key", "ingest.test/other-log", 44);
    let garbage = dir.join("garbage.key");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let missing = dir.join("missing.key");
    let shown = |path: &Path| path.display().to_string();
    let cases: Vec<(&str, Vec<PathBuf>, Vec<String>)> = vec![
        (
            "missing",
            vec![missing.clone()],
            vec![format!(
                "Failed to read the additional checkpoint key {} (ledger.additional_checkpoint_key_files)",
                shown(&missing)
            )],
        ),
        (
            "not a key",
            vec![garbage.clone()],
            vec![format!(
                "{} (ledger.additional_checkpoint_key_files) is not a checkpoint signing key",
                shown(&garbage)
            )],
        ),
        (
            "the primary key again",
            vec![copy.clone()],
            vec![format!(
                "{} holds the same key as {}",
                shown(&copy),
                shown(&keys.old)
            )],
        ),
        (
            "an additional key twice",
            vec![keys.new.clone(), copy_of(&keys.new, dir)],
            vec![format!(
                "{} holds the same key as {}",
                shown(&dir.join("new-copy.key")),
                shown(&keys.new)
            )],
        ),
        (
            "another name",
            vec![other_name.clone()],
            vec![
                shown(&other_name),
                "is named ingest.test/other-log".to_owned(),
                format!("tagtrail keygen --name {LOG_NAME}"),
            ],
        ),
    ];
    for (case, additional, needles) in cases {
        let mut config = Config::new(
            SecretString::from(url.clone()),
            keys.old.clone(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        config.ledger.additional_checkpoint_key_files = additional;
        let error = match Application::build(config).await {
            Ok(_) => panic!("{case}: ingest started"),
            Err(error) => format!("{error:#}"),
        };
        for needle in needles {
            assert!(error.contains(&needle), "{case}: {needle:?} in {error}");
        }
    }
    drop(db);
}

/// A copy of a key file, as `<stem>-copy.key` in `dir`.
fn copy_of(key: &Path, dir: &Path) -> PathBuf {
    let stem = key.file_stem().unwrap().to_str().unwrap();
    let copy = dir.join(format!("{stem}-copy.key"));
    std::fs::copy(key, &copy).unwrap();
    copy
}
