//! The checkpointer's keys against a real PostgreSQL: several keys sign every checkpoint in order
//! and are all registered in `signing_keys`; a checkpoint of the database is recorded in the
//! published-checkpoint file only when one of the log's keys signed it and the database holds its
//! tree.

use std::path::PathBuf;
use std::sync::Arc;

use ledger::RootHash;
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::note::{KeyName, Note, NoteSignerKey};
use ledger_store::testing::{EventFactory, TestDatabase};
use ledger_store::{CheckpointKeysError, Checkpointer, Sequencer, Writer};

const ORIGIN: &str = "tagtrail.test/log";

fn key(seed: u8) -> Arc<NoteSignerKey> {
    Arc::new(NoteSignerKey::from_seed(
        KeyName::parse(ORIGIN).unwrap(),
        &[seed; 32],
    ))
}

fn origin() -> Origin {
    Origin::parse(ORIGIN).unwrap()
}

/// The key ids of a note's signatures, in order.
fn signers(note: &str) -> Vec<u32> {
    Note::parse(note)
        .unwrap()
        .signatures()
        .iter()
        .map(|signature| signature.id().get())
        .collect()
}

#[tokio::test]
async fn several_keys_sign_every_checkpoint_in_order_and_each_is_registered() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let (a, b) = (key(1), key(2));
    assert_eq!(
        Checkpointer::with_signers(&store, origin(), Vec::new()).unwrap_err(),
        CheckpointKeysError::NoKey
    );
    assert_eq!(
        Checkpointer::with_signers(&store, origin(), vec![a.clone(), b.clone(), key(1)])
            .unwrap_err(),
        CheckpointKeysError::SameKeyId {
            id: a.id(),
            first: 1,
            second: 3
        }
    );

    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    sequencer.append(device.next_batch(4)).await.unwrap();
    let both = Checkpointer::with_signers(&store, origin(), vec![b.clone(), a.clone()]).unwrap();
    let signed = both.sign_latest().await.unwrap().unwrap();
    assert_eq!(signers(&signed.note), [b.id().get(), a.id().get()]);
    let registered: Vec<String> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|stored| stored.key.to_string())
        .collect();
    let mut expected = vec![a.verifier_key().to_string(), b.verifier_key().to_string()];
    expected.sort();
    let mut sorted = registered.clone();
    sorted.sort();
    assert_eq!(sorted, expected);

    // The next signer, with one key of the two: the previous checkpoint does not stop it.
    sequencer.append(device.next_batch(2)).await.unwrap();
    let alone = Checkpointer::new(&store, origin(), a.clone());
    let signed = alone.sign_latest().await.unwrap().unwrap();
    assert_eq!(signers(&signed.note), [a.id().get()]);
    assert_eq!(store.signing_keys().await.unwrap().len(), 2);
    sequencer.shutdown().await;
}

#[tokio::test]
async fn a_database_checkpoint_is_recorded_only_when_a_log_key_signed_it_for_the_stored_tree() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let dir = std::env::temp_dir().join(format!("ledger-store-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join("log.published");
    let published = || std::fs::read_to_string(&file).unwrap();
    let checkpointer = Checkpointer::new(&store, origin(), key(1))
        .with_published_file(file.clone())
        .await
        .unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    sequencer.append(device.next_batch(5)).await.unwrap();
    let five = checkpointer.sign_latest().await.unwrap().unwrap();
    assert_eq!(published(), five.note);

    // Checkpoint rows written by someone else (as the database's owner), with another key.
    let other = key(9);
    let admin = db.connect().await.unwrap();
    let insert = |size: u64, root: RootHash| {
        let note = Checkpoint::new(origin(), ledger::TreeSize::new(size).unwrap(), root)
            .sign(&[other.as_ref()])
            .unwrap()
            .to_message();
        let admin = &admin;
        async move {
            admin
                .execute(
                    "INSERT INTO checkpoints (tree_size, root_hash, note) VALUES ($1, $2, $3)",
                    &[&(size as i64), &root.as_bytes().as_slice(), &note],
                )
                .await
                .unwrap();
        }
    };
    sequencer.append(device.next_batch(3)).await.unwrap();
    let root = store
        .root_hash(ledger::TreeSize::new(8).unwrap())
        .await
        .unwrap();
    insert(8, root).await;
    // Not one of the log's keys: not recorded.
    checkpointer.check().await.unwrap();
    assert_eq!(published(), five.note);
    // A key the log signed with (signing_keys lists it): recorded, its tree being the stored one.
    admin
        .execute(
            "INSERT INTO signing_keys (verifier_key) VALUES ($1)",
            &[&other.verifier_key().to_string()],
        )
        .await
        .unwrap();
    checkpointer.check().await.unwrap();
    assert_eq!(published().lines().nth(1), Some("8"));
    // By that key, but of another tree than the stored one: not recorded.
    sequencer.append(device.next_batch(2)).await.unwrap();
    insert(10, RootHash::from_bytes([7; 32])).await;
    checkpointer.check().await.unwrap();
    assert_eq!(published().lines().nth(1), Some("8"));
    sequencer.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}
