//! What the integration tests share: an ingest service on a database of its own (port 0,
//! connected as a least-privileged member of `tagtrail_ingest`), the registry set up with the
//! library's own administration functions, and a client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use service_kit::http::HttpService as _;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use capture_client::{CaptureClient, Credential, DeviceSigner, Reply};
use ingest::{Application, Config};
use ledger::batch::DeviceSigningKey;
use ledger::note::{KeyName, NoteSignerKey};
use ledger::{DeviceId, SiteId};
use ledger_store::testing::{TestDatabase, with_database};
use registry::location::SiteLocation;
use secrecy::SecretString;
use tokio::task::JoinHandle;

/// The login role the service runs as in tests: a member of `tagtrail_ingest` only.
pub const SERVICE_ROLE: &str = "tagtrail_ingest_test";

/// A running service and its database.
pub struct TestApp {
    pub address: String,
    /// The operator listener (`http.operator_listen`), when configured.
    pub operator: Option<String>,
    pub db: TestDatabase,
    pub admin: tokio_postgres::Client,
    handle: ServerHandle,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _key_dir: KeyDir,
}

/// A directory removed on drop.
pub struct KeyDir(pub PathBuf);

impl Drop for KeyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh directory for test files.
pub fn temp_dir(tag: &str) -> KeyDir {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "ingest-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&path).unwrap();
    KeyDir(path)
}

/// The name of the tests' checkpoint keys, and so their log's origin.
pub const LOG_NAME: &str = "ingest.test/log";

/// Writes a checkpoint signing key file (as `tagtrail keygen` would) into `dir`.
pub fn write_checkpoint_key(dir: &std::path::Path) -> PathBuf {
    write_checkpoint_key_as(dir, "checkpoint.key", LOG_NAME, 42).0
}

/// Writes the checkpoint signing key of `seed` named `name` (as `tagtrail keygen --name` would) to
/// `dir/file`; returns its path and the key.
pub fn write_checkpoint_key_as(
    dir: &std::path::Path,
    file: &str,
    name: &str,
    seed: u8,
) -> (PathBuf, NoteSignerKey) {
    let signer = NoteSignerKey::from_seed(KeyName::parse(name).unwrap(), &[seed; 32]);
    let path = dir.join(file);
    std::fs::write(&path, signer.to_private_text().as_str()).unwrap();
    (path, signer)
}

/// Makes sure the service's login role exists on a server that is not a [`TestDatabase`]'s (the
/// private PostgreSQL of the restart test).
pub async fn ensure_service_role(admin: &tokio_postgres::Client) {
    ledger_store::testing::create_login_role(admin, SERVICE_ROLE, "tagtrail_ingest")
        .await
        .unwrap();
}

impl TestApp {
    /// A service on a new migrated database.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A service on a new migrated database, with settings changed by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let db = TestDatabase::create().await.unwrap();
        Self::spawn_on(db, adjust).await
    }

    /// A service on the given database.
    pub async fn spawn_on(db: TestDatabase, adjust: impl FnOnce(&mut Config)) -> Self {
        let admin = db.connect().await.unwrap();
        let url = db
            .login_role(SERVICE_ROLE, "tagtrail_ingest")
            .await
            .unwrap();
        let key_dir = temp_dir("app");
        let key = write_checkpoint_key(&key_dir.0);
        let mut config =
            Config::new(SecretString::from(url), key, "127.0.0.1:0".parse().unwrap()).unwrap();
        config.http.workers = Some(2);
        config.ledger.checkpoint_interval = std::time::Duration::from_millis(100);
        adjust(&mut config);
        let app = Application::build(config).await.unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        let operator = app
            .operator_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            address,
            operator,
            db,
            admin,
            handle,
            task: Some(task),
            _key_dir: key_dir,
        }
    }

    /// Stops the server gracefully, waits for the ledger to be flushed, and hands back the
    /// database (dropped, with the database, when the caller does not keep it).
    pub async fn stop(mut self) -> TestDatabase {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.db
    }

    /// Registers a site owning `locations`.
    pub async fn site(&mut self, site: &str, locations: &[&str]) -> SiteId {
        let site = SiteId::parse(site).unwrap();
        registry::add_site(&self.admin, &site, "test site", None)
            .await
            .unwrap();
        let locations: Vec<SiteLocation> = locations
            .iter()
            .map(|l| SiteLocation::parse(l).unwrap())
            .collect();
        registry::add_site_locations(&mut self.admin, &site, &locations)
            .await
            .unwrap();
        site
    }

    /// Registers a device of `site` with a key from `seed`; returns its signer.
    pub async fn device(
        &mut self,
        device: &str,
        site: &SiteId,
        seed: u8,
        locations: &[&str],
    ) -> DeviceSigner {
        let id = DeviceId::parse(device).unwrap();
        let key = DeviceSigningKey::from_seed(&[seed; 32]);
        let locations: Vec<SiteLocation> = locations
            .iter()
            .map(|l| SiteLocation::parse(l).unwrap())
            .collect();
        registry::add_device(&mut self.admin, &id, site, &key.public_key(), &locations)
            .await
            .unwrap();
        DeviceSigner::new(id, key)
    }

    /// Creates a token of `site`.
    pub async fn token(&self, site: &SiteId) -> String {
        registry::create_token(&self.admin, site, "test")
            .await
            .unwrap()
            .expose()
    }

    /// A client with `credential`.
    pub fn client(&self, credential: Credential) -> Arc<CaptureClient> {
        Arc::new(CaptureClient::new(&self.address, credential))
    }

    /// Row counts of every table a capture writes: events, device batches, tiles, capture jobs.
    pub async fn counts(&self) -> [i64; 4] {
        let row = self
            .admin
            .query_one(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM device_batches),
                        (SELECT count(*) FROM tiles), (SELECT count(*) FROM capture_jobs)",
                &[],
            )
            .await
            .unwrap();
        [row.get(0), row.get(1), row.get(2), row.get(3)]
    }
}

/// Runs a blocking client call off the runtime.
pub async fn blocking<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(call).await.unwrap()
}

/// Captures `document` with `client` (rollback unless `proceed`).
pub async fn capture(client: &Arc<CaptureClient>, document: Vec<u8>, proceed: bool) -> Reply {
    let client = client.clone();
    blocking(move || {
        let behaviour = proceed.then_some(epcis::rest::ErrorBehaviour::Proceed);
        client.capture(&document, behaviour).unwrap()
    })
    .await
}

/// `GET path` with `client`.
pub async fn get(client: &Arc<CaptureClient>, path: &str) -> Reply {
    let client = client.clone();
    let path = path.to_owned();
    blocking(move || client.get(&path).unwrap()).await
}

/// An EPCIS document of ObjectEvents, one per serial, at `location` (readPoint and bizLocation).
pub fn document(serials: &[u64], location: &str) -> Vec<u8> {
    let events: Vec<serde_json::Value> = serials
        .iter()
        .map(|&serial| event(serial, location))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": events}
    }))
    .unwrap()
}

/// One ObjectEvent observing one SGTIN.
pub fn event(serial: u64, location: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "ObjectEvent",
        "eventTime": "2024-01-01T00:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [format!("urn:epc:id:sgtin:0614141.107346.{serial}")],
        "action": "OBSERVE",
        "bizStep": "receiving",
        "readPoint": {"id": location},
        "bizLocation": {"id": location}
    })
}

/// The CBV 2.0 event hash IDs of a document, as `tagtrail epcis hash` prints them (the CLI calls
/// `epcis::hash::document_hashes` on the document's JSON).
pub fn cli_hashes(document: &[u8]) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_slice(document).unwrap();
    epcis::hash::document_hashes(&value)
        .unwrap()
        .into_iter()
        .map(|(_, hash)| hash.to_string())
        .collect()
}

/// The receipts of a 202 answer: (event index, event hash, leaf index, duplicate).
pub fn receipts(reply: &Reply) -> Vec<(usize, String, u64, bool)> {
    reply.body["receipts"]
        .as_array()
        .unwrap_or_else(|| panic!("no receipts in {}", reply.body))
        .iter()
        .map(|r| {
            (
                r["eventIndex"].as_u64().unwrap() as usize,
                r["eventHash"].as_str().unwrap().to_owned(),
                r["leafIndex"].as_u64().unwrap(),
                r["duplicate"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// The superuser URL of the shared server (for tests that start their own service).
pub fn admin_url_for(db: &str) -> String {
    with_database(&ledger_store::testing::admin_url(), db).unwrap()
}
