//! What the anchor tests share: a local chain of their own (`anchor::testing::Anvil`), a database
//! with signed checkpoints, and a worker for one chain built as the binary builds it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor::metrics::Metrics;
use anchor::store::AnchorStore;
use anchor::worker::{ChainSettings, ChainWorker};
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::note::{KeyName, NoteSignerKey, NoteVerifiers};
use ledger::{RootHash, TreeSize};
use ledger_store::StoredCheckpoint;
use ledger_store::testing::TestDatabase;
use tokio_util::sync::CancellationToken;

pub use anchor::testing::{Anvil, free_port};

/// The log every test anchors.
pub const ORIGIN: &str = "tagtrail.test/anchor-log";
/// The login role the worker runs as in tests: a member of `tagtrail_anchor` only.
pub const ANCHOR_ROLE: &str = "tagtrail_anchor_test";

/// A ledger database with the worker's role, and the log's checkpoint key.
pub struct Ledger {
    pub db: TestDatabase,
    pub anchor_url: String,
    pub key: NoteSignerKey,
    pub origin: Origin,
}

impl Ledger {
    pub async fn create() -> Self {
        let db = TestDatabase::create().await.unwrap();
        let anchor_url = db.login_role(ANCHOR_ROLE, "tagtrail_anchor").await.unwrap();
        let name = KeyName::parse(ORIGIN).unwrap();
        let key = NoteSignerKey::from_seed(name, &[42; 32]);
        Self {
            db,
            anchor_url,
            key,
            origin: Origin::parse(ORIGIN).unwrap(),
        }
    }

    /// The log's public keys.
    pub fn keys(&self) -> NoteVerifiers {
        NoteVerifiers::new(vec![self.key.verifier_key()]).unwrap()
    }

    /// Stores a signed checkpoint of `size` entries (the root is made up: the worker anchors what
    /// the checkpoint says; the ledger's own tests cover the roots).
    pub async fn add_checkpoint(&self, size: u64) -> StoredCheckpoint {
        let mut root = [0u8; 32];
        root[..8].copy_from_slice(&size.to_be_bytes());
        root[8..].copy_from_slice(&[0x5a; 24]);
        let checkpoint = Checkpoint::new(
            self.origin.clone(),
            TreeSize::new(size).unwrap(),
            RootHash::from_bytes(root),
        );
        let note = checkpoint.sign(&[&self.key]).unwrap().to_message();
        let client = self.db.connect().await.unwrap();
        client
            .execute(
                "INSERT INTO checkpoints (tree_size, root_hash, note) VALUES ($1, $2, $3)",
                &[&i64::try_from(size).unwrap(), &root.as_slice(), &note],
            )
            .await
            .unwrap();
        StoredCheckpoint {
            size: TreeSize::new(size).unwrap(),
            root: RootHash::from_bytes(root),
            note,
        }
    }

    /// The worker's tables as the worker's role sees them.
    pub fn store(&self) -> AnchorStore {
        AnchorStore::connect(&self.anchor_url, 8).unwrap()
    }

    /// One value of a superuser query (`SELECT count(*) ...`).
    pub async fn count(&self, sql: &str) -> i64 {
        let client = self.db.connect().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }
}

/// The settings of a worker on `anvil` with a new, funded key, anchoring at every tick.
pub fn settings(anvil: &Anvil, name: &str) -> ChainSettings {
    anchor::testing::chain_settings(anvil, name)
}

/// A started worker (its contract deployed) and its metrics.
pub async fn worker(settings: ChainSettings, ledger: &Ledger) -> (ChainWorker, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let worker = ChainWorker::start(
        settings,
        ledger.store(),
        metrics.clone(),
        &CancellationToken::new(),
    )
    .await
    .unwrap()
    .unwrap();
    (worker, metrics)
}

/// The value of one metric series in the OpenMetrics text (`name{labels}` as printed).
pub fn metric(metrics: &Metrics, series: &str) -> f64 {
    let text = metrics.encode().unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|value| value.trim().parse::<f64>().unwrap())
        })
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
}

/// Waits for a condition, checked every 50 ms, for up to `limit`.
pub async fn wait_for<F: FnMut() -> bool>(limit: Duration, what: &str, mut condition: F) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What most worker tests start from: a chain of the test's own, a database, and a started
/// worker (its contract deployed) whose settings `adjust` changed.
pub struct Scene {
    pub anvil: Anvil,
    pub ledger: Ledger,
    pub worker: ChainWorker,
    pub metrics: Arc<Metrics>,
    /// The worker's sending address.
    pub sender: alloy_primitives::Address,
}

impl Scene {
    pub async fn on(anvil: Anvil, adjust: impl FnOnce(&mut ChainSettings)) -> Self {
        let ledger = Ledger::create().await;
        let mut settings = settings(&anvil, "local");
        adjust(&mut settings);
        let sender = settings.signer.address();
        let (worker, metrics) = worker(settings, &ledger).await;
        Self {
            anvil,
            ledger,
            worker,
            metrics,
            sender,
        }
    }
}
