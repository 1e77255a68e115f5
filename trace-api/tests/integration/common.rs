//! A pipeline for the tests: ingest and trace-api on a new database (or on a server of the test's
//! own), a site and a device, and a blocking HTTP client of trace-api.
#![allow(dead_code)]

use service_kit::http::HttpService as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use capture_client::{CaptureClient, Credential, DeviceSigner};
use ledger::batch::DeviceSigningKey;
use ledger::bundle::{DeviceRegistry, TrustedKeys};
use ledger::checkpoint::TrustedLog;
use ledger::history::Parties;
use ledger::note::{KeyName, NoteSignerKey, NoteVerifiers};
use ledger::{DeviceId, OrganisationId, SiteId};
use ledger_store::testing::TestDatabase;
use registry::location::SiteLocation;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The login role trace-api runs as in tests: a member of `tagtrail_reader` only.
pub const READER_ROLE: &str = "tagtrail_trace_test";
/// The login role trace-api writes the access log as in tests: a member of `tagtrail_access` only.
pub const ACCESS_ROLE: &str = "tagtrail_access_test";
/// The access log's origin in tests.
pub const ACCESS_ORIGIN: &str = "trace.test/access";
/// The login role ingest runs as in tests: a member of `tagtrail_ingest` only.
pub const INGEST_ROLE: &str = "tagtrail_ingest_test";
/// The location every test event is read at.
pub const LOCATION: &str = "urn:epc:id:sgln:0614141.00777.0";
/// The site the device belongs to: registered without an organisation, it is one of its own.
pub const SITE: &str = "test-site";

/// Ingest and trace-api on one database, which `db` keeps (a [`TestDatabase`], or a server of the
/// test's own).
pub struct Pipeline<Db = TestDatabase> {
    pub db: Db,
    pub ingest: String,
    pub trace: String,
    pub signer: NoteSignerKey,
    pub device: DeviceSigningKey,
    reader: TraceApi,
    ingest_handle: ServerHandle,
    ingest_task: JoinHandle<anyhow::Result<()>>,
    _key_dir: KeyDir,
}

/// The directory of the checkpoint key, removed on drop (also when a test fails).
struct KeyDir(PathBuf);

impl Drop for KeyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Pipeline {
    /// Starts both services on a new database; `adjust` changes trace-api's settings.
    pub async fn start(adjust: impl FnOnce(&mut trace_api::Config)) -> Self {
        let db = TestDatabase::create().await.unwrap();
        let mut admin = db.connect().await.unwrap();
        let ingest_url = db.login_role(INGEST_ROLE, "tagtrail_ingest").await.unwrap();
        let reader_url = db.login_role(READER_ROLE, "tagtrail_reader").await.unwrap();
        let access_url = db.login_role(ACCESS_ROLE, "tagtrail_access").await.unwrap();
        Self::start_on(db, &mut admin, ingest_url, reader_url, move |config| {
            config.access_log.url = Some(SecretString::from(access_url));
            adjust(config);
        })
        .await
    }
}

impl Pipeline {
    /// Changes the store behind the ledger's back, as the superuser past the append-only
    /// triggers: runs the SQL `tamper` makes of the leaf of the one stored event whose text
    /// holds `"commissioning"`, and returns that leaf. Done before anything reads the entry (a
    /// reader keeps the entries it read: finding rows changed later is the audit's).
    pub async fn tamper_with_commissioning(&self, tamper: impl FnOnce(u64) -> String) -> u64 {
        let admin = self.db.connect().await.unwrap();
        let leaf: i64 = admin
            .query_one(
                "SELECT leaf_index FROM events WHERE event LIKE '%\"commissioning\"%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let leaf = u64::try_from(leaf).unwrap();
        admin
            .batch_execute(&format!(
                "SET session_replication_role = replica; {}",
                tamper(leaf)
            ))
            .await
            .unwrap();
        leaf
    }

    /// The access log's entries, in leaf order: what each credentialed answer (or refusal) left.
    pub async fn access_entries(&self) -> Vec<ledger::access_log::AccessEntry> {
        let admin = self.db.connect().await.unwrap();
        admin
            .query("SELECT entry FROM access_log ORDER BY leaf_index", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| ledger::access_log::AccessEntry::parse(row.get(0)).unwrap())
            .collect()
    }

    /// Another trace-api on the pipeline's database (as another process of the deployment
    /// would be), with the access log set as the pipeline's; `adjust` changes its settings.
    pub async fn another_trace_api(&self, adjust: impl FnOnce(&mut trace_api::Config)) -> TraceApi {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let reader_url = self
            .db
            .login_role(READER_ROLE, "tagtrail_reader")
            .await
            .unwrap();
        let access_url = self
            .db
            .login_role(ACCESS_ROLE, "tagtrail_access")
            .await
            .unwrap();
        let key_file = std::env::temp_dir().join(format!(
            "trace-api-test-access-{}-{}.key",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(&key_file, access_key().to_private_text().as_str()).unwrap();
        let read_key = key_file.clone();
        let service = TraceApi::start(reader_url, move |config| {
            config.access_log.url = Some(SecretString::from(access_url));
            config.access_log.signing_key = Some(read_key);
            config.access_log.origin = Some(ACCESS_ORIGIN.to_owned());
            adjust(config);
        })
        .await;
        // Read once at start-up: the file is not needed any more.
        let _ = std::fs::remove_file(&key_file);
        service
    }
}

impl<Db> Pipeline<Db> {
    /// Starts both services on a migrated database that `db` keeps: registers the site and the
    /// device through `admin` (a superuser connection to it), then runs ingest as `ingest_url`
    /// and trace-api as `reader_url` (with its settings changed by `adjust`).
    pub async fn start_on(
        db: Db,
        admin: &mut tokio_postgres::Client,
        ingest_url: String,
        reader_url: String,
        adjust: impl FnOnce(&mut trace_api::Config),
    ) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let key_dir = std::env::temp_dir().join(format!(
            "trace-api-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&key_dir).unwrap();
        let key_dir = KeyDir(key_dir);
        let signer = NoteSignerKey::from_seed(KeyName::parse("trace.test/log").unwrap(), &[7; 32]);
        let key_file = key_dir.0.join("checkpoint.key");
        std::fs::write(&key_file, signer.to_private_text().as_str()).unwrap();
        let access_key_file = key_dir.0.join("access.key");
        std::fs::write(&access_key_file, access_key().to_private_text().as_str()).unwrap();

        let site = SiteId::parse(SITE).unwrap();
        registry::add_site(admin, &site, "test site", None)
            .await
            .unwrap();
        let location = [SiteLocation::parse(LOCATION).unwrap()];
        registry::add_site_locations(admin, &site, &location)
            .await
            .unwrap();
        let device = DeviceSigningKey::from_seed(&[9; 32]);
        registry::add_device(
            admin,
            &DeviceId::parse("reader-1").unwrap(),
            &site,
            &device.public_key(),
            &location,
        )
        .await
        .unwrap();

        let mut ingest_config = ingest::Config::new(
            SecretString::from(ingest_url),
            key_file,
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        ingest_config.http.workers = Some(2);
        ingest_config.ledger.checkpoint_interval = Duration::from_millis(100);
        let ingest_app = ingest::Application::build(ingest_config).await.unwrap();
        let ingest = format!("http://127.0.0.1:{}", ingest_app.port());
        let ingest_handle = ingest_app.handle();
        let ingest_task = tokio::spawn(ingest_app.run_until_stopped());
        // POST /recalls captures through this ingest.
        let capture_url = ingest.clone();
        let reader = TraceApi::start(reader_url, move |config| {
            config.recalls.capture_url = Some(capture_url);
            adjust(config);
            // An access log given a database is signed with the tests' access key.
            if config.access_log.url.is_some() && config.access_log.signing_key.is_none() {
                config.access_log.signing_key = Some(access_key_file);
                config.access_log.origin = Some(ACCESS_ORIGIN.to_owned());
            }
        })
        .await;
        Self {
            db,
            ingest,
            trace: reader.url.clone(),
            signer,
            device,
            reader,
            ingest_handle,
            ingest_task,
            _key_dir: key_dir,
        }
    }

    /// The log as a verifier trusts it: its origin and checkpoint key.
    pub fn trusted_log(&self) -> TrustedLog {
        TrustedLog::new(
            ledger::checkpoint::Origin::parse("trace.test/log").unwrap(),
            NoteVerifiers::new(vec![self.signer.verifier_key()]).unwrap(),
        )
    }

    /// The access log as a grantee or a monitor trusts it: its origin and checkpoint key.
    pub fn trusted_access_log(&self) -> TrustedLog {
        TrustedLog::new(
            ledger::checkpoint::Origin::parse(ACCESS_ORIGIN).unwrap(),
            NoteVerifiers::new(vec![access_key().verifier_key()]).unwrap(),
        )
    }

    /// What a verifier of bundles trusts: the log and the device's registered key.
    pub fn trusted_keys(&self) -> TrustedKeys {
        let mut devices = DeviceRegistry::new();
        devices.add(
            DeviceId::parse("reader-1").unwrap(),
            self.device.public_key(),
        );
        // The registry as `tagtrail participants` gives it: the site is an organisation of its
        // own (it was added without one), and the device is the site's.
        let mut parties = Parties::new();
        parties.add_site(
            SiteId::parse(SITE).unwrap(),
            OrganisationId::parse(SITE).unwrap(),
        );
        parties.add_device(
            DeviceId::parse("reader-1").unwrap(),
            SiteId::parse(SITE).unwrap(),
        );
        TrustedKeys::new(self.trusted_log())
            .with_devices(devices)
            .with_parties(parties)
    }

    /// Captures `events` (EPCIS event objects) as the device, and waits until a checkpoint
    /// trace-api serves covers them. Returns the event hashes of the receipts.
    pub async fn capture(&self, events: Vec<Value>) -> Vec<String> {
        self.capture_document(json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00Z",
            "epcisBody": {"eventList": events},
        }))
        .await
    }

    /// Captures a whole EPCIS document as the device, as [`capture`](Self::capture) does.
    pub async fn capture_document(&self, document: Value) -> Vec<String> {
        let bytes = serde_json::to_vec(&document).unwrap();
        let signer = DeviceSigner::new(
            DeviceId::parse("reader-1").unwrap(),
            DeviceSigningKey::from_seed(&[9; 32]),
        );
        let client = Arc::new(CaptureClient::new(&self.ingest, Credential::Device(signer)));
        let reply = tokio::task::spawn_blocking(move || client.capture(&bytes, None).unwrap())
            .await
            .unwrap();
        assert!(
            reply.status / 100 == 2,
            "capture failed: {} {}",
            reply.status,
            reply.body
        );
        let receipts = reply.body["receipts"].as_array().unwrap().clone();
        let largest = receipts
            .iter()
            .filter_map(|r| r["leafIndex"].as_u64())
            .max()
            .unwrap();
        self.wait_for_checkpoint(largest + 1).await;
        receipts
            .iter()
            .map(|r| r["eventHash"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The pipeline's trace-api.
    pub fn trace_api(&self) -> &TraceApi {
        &self.reader
    }

    /// Waits until trace-api's checkpoint covers `size` entries.
    pub async fn wait_for_checkpoint(&self, size: u64) {
        self.reader.wait_for_checkpoint(size).await;
    }

    /// Waits until trace-api's checkpoint commits to a verifiable index of `size` entries or more.
    pub async fn wait_for_index(&self, size: u64) {
        self.reader.wait_for_index(size).await;
    }

    /// Captures inspections of an item of its own (`urn:epc:id:sgtin:0614141.812345.77`) until
    /// the newest checkpoint commits to the verifiable index: a new log's first checkpoints are
    /// signed before the indexer's first run and commit to none (an idle log's is signed again
    /// once the index covers its tree; a capture makes the next one sooner).
    /// Returns how many it captured.
    pub async fn warm_index(&self) -> u32 {
        let mut before = 0;
        loop {
            self.capture(vec![object(
                before,
                "OBSERVE",
                &["urn:epc:id:sgtin:0614141.812345.77"],
                "inspecting",
            )])
            .await;
            before += 1;
            let (_, checkpoint) = self.get_text("/log/checkpoint").await;
            if checkpoint.contains("\ntagtrail-index ") {
                return before;
            }
            assert!(
                before < 50,
                "no checkpoint committed to the index: {checkpoint}"
            );
        }
    }

    /// `GET path` of trace-api: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.reader.get(path).await
    }

    /// `GET path` of trace-api: status and text body.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        self.reader.get_text(path).await
    }

    /// `GET path` of trace-api: status, headers and body.
    pub async fn get_raw(&self, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        self.reader.get_raw(path).await
    }

    /// `GET path` of trace-api with `headers`, redirects not followed.
    pub async fn get_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        self.reader.get_with(path, headers).await
    }

    /// `METHOD path` of trace-api, redirects not followed.
    pub async fn request_raw(
        &self,
        method: &str,
        path: &str,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        self.reader.request_raw(method, path).await
    }

    /// `POST path` of trace-api with `body` as JSON and `headers`: status, headers and body.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let url = format!("{}{path}", self.reader.url);
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        let body = body.to_vec();
        tokio::task::spawn_blocking(move || post(&url, &headers, body))
            .await
            .unwrap()
    }

    /// trace-api's operator listener (`http://127.0.0.1:<port>`), when configured.
    pub fn operator(&self) -> &str {
        self.reader.operator.as_deref().unwrap()
    }

    /// `GET path` on trace-api's operator listener: status and text body.
    pub async fn get_operator(&self, path: &str) -> (u16, String) {
        self.reader.get_operator(path).await
    }

    /// Stops both services.
    pub async fn stop(self) {
        self.ingest_handle.stop(true).await;
        self.ingest_task.await.unwrap().unwrap();
        self.reader.stop().await;
    }
}

/// A trace-api service on a database of its own choosing, read through HTTP.
pub struct TraceApi {
    /// Where it listens (`http://127.0.0.1:<port>`).
    pub url: String,
    /// Where its operator listener listens, if configured (`http.operator_listen`).
    pub operator: Option<String>,
    handle: ServerHandle,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The key that signs the access log's checkpoints in tests.
pub fn access_key() -> NoteSignerKey {
    NoteSignerKey::from_seed(KeyName::parse(ACCESS_ORIGIN).unwrap(), &[11; 32])
}

impl TraceApi {
    /// Starts trace-api on `reader_url` (a member of `tagtrail_reader`), its settings changed by
    /// `adjust`.
    pub async fn start(reader_url: String, adjust: impl FnOnce(&mut trace_api::Config)) -> Self {
        let mut config = trace_api::Config::new(
            SecretString::from(reader_url),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        config.http.workers = Some(2);
        // Tests read right after the checkpoint they waited for: no reuse of an older one (the
        // reuse itself is tested in service.rs).
        config.ledger.checkpoint_refresh = std::time::Duration::ZERO;
        // The log's key, as its scan pages hand it to the browser's check.
        config.ledger.checkpoint_keys = vec![
            NoteSignerKey::from_seed(KeyName::parse("trace.test/log").unwrap(), &[7; 32])
                .verifier_key()
                .to_string(),
        ];
        adjust(&mut config);
        let app = trace_api::Application::build(config).await.unwrap();
        let url = format!("http://127.0.0.1:{}", app.port());
        let operator = app
            .operator_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            url,
            operator,
            handle,
            task,
        }
    }

    /// The tree size of the checkpoint it serves (`None`: it serves none).
    pub async fn checkpoint_size(&self) -> Option<u64> {
        let (status, text) = self.get_text("/log/checkpoint").await;
        (status == 200).then(|| text.lines().nth(1).unwrap().parse().unwrap())
    }

    /// Waits until its checkpoint covers `size` entries.
    pub async fn wait_for_checkpoint(&self, size: u64) {
        for _ in 0..600 {
            if self.checkpoint_size().await >= Some(size) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no checkpoint covered {size} entries within 30 s");
    }

    /// Waits until its checkpoint commits to a verifiable index of `size` entries or more (its
    /// `tagtrail-index <size> <root>` line).
    pub async fn wait_for_index(&self, size: u64) {
        for _ in 0..600 {
            let (status, text) = self.get_text("/log/checkpoint").await;
            let indexed = text
                .lines()
                .find_map(|line| line.strip_prefix("tagtrail-index "))
                .and_then(|rest| rest.split(' ').next()?.parse::<u64>().ok());
            if status == 200 && indexed >= Some(size) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no checkpoint committed to an index of {size} entries within 30 s");
    }

    /// `GET path`: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, headers, bytes) = self.get_raw(path).await;
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{path}: not JSON ({headers:?}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, body)
    }

    /// `GET path`: status and text body.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let (status, _, bytes) = self.get_raw(path).await;
        (status, String::from_utf8(bytes).unwrap())
    }

    /// `GET path`: status, headers and body.
    pub async fn get_raw(&self, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let url = format!("{}{path}", self.url);
        tokio::task::spawn_blocking(move || get(&url))
            .await
            .unwrap()
    }

    /// `GET path` with `headers`, redirects not followed: status, headers and body.
    pub async fn get_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        self.request_with("GET", path, headers).await
    }

    /// `METHOD path`, redirects not followed: status, headers and body.
    pub async fn request_raw(
        &self,
        method: &str,
        path: &str,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        self.request_with(method, path, &[]).await
    }

    async fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let url = format!("{}{path}", self.url);
        let method = method.to_owned();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        tokio::task::spawn_blocking(move || request(&method, &url, &headers))
            .await
            .unwrap()
    }

    /// `GET path` on the operator listener (configured: `http.operator_listen`): status and
    /// text body.
    pub async fn get_operator(&self, path: &str) -> (u16, String) {
        let url = format!("{}{path}", self.operator.as_ref().unwrap());
        let (status, _, bytes) = tokio::task::spawn_blocking(move || get(&url))
            .await
            .unwrap();
        (status, String::from_utf8(bytes).unwrap())
    }

    /// Stops it gracefully.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.task.await.unwrap().unwrap();
    }
}

/// A blocking `GET` that does not treat 4xx/5xx as errors (redirects followed).
pub fn get(url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    answered(agent.get(url).call().unwrap())
}

/// `METHOD url` with `headers`, redirects not followed: status, headers and body.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    answered(agent.run(builder.body(()).unwrap()).unwrap())
}

/// `POST url` with `headers` and `body`: status, headers and body.
pub fn post(
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method("POST").uri(url);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    answered(agent.run(builder.body(body).unwrap()).unwrap())
}

/// A response's status, headers and body (up to 64 MiB).
fn answered(
    mut response: ureq::http::Response<ureq::Body>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap();
    (status, headers, body)
}

/// The value of a header.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Percent-encodes a path segment.
pub fn segment(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An event at minute `minute` after 10:00 UTC yesterday: recent, so that custody authority's
/// late-report window (30 days) lets the events shape histories, and never in the future.
pub fn at(minute: u32) -> String {
    const DAY: u64 = 86_400_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let yesterday = (u64::try_from(now).unwrap() / DAY - 1) * DAY;
    let millis = yesterday + 10 * 3_600_000 + u64::from(minute) * 60_000;
    ledger::UnixMillis::from_millis(millis).to_rfc3339()
}

/// An ObjectEvent of `epcs`.
pub fn object(minute: u32, action: &str, epcs: &[&str], biz_step: &str) -> Value {
    json!({
        "type": "ObjectEvent",
        "eventTime": at(minute),
        "eventTimeZoneOffset": "+00:00",
        "epcList": epcs,
        "action": action,
        "bizStep": biz_step,
        "readPoint": {"id": LOCATION},
    })
}

/// An AggregationEvent.
pub fn aggregation(minute: u32, action: &str, parent: &str, children: &[&str]) -> Value {
    json!({
        "type": "AggregationEvent",
        "eventTime": at(minute),
        "eventTimeZoneOffset": "+00:00",
        "parentID": parent,
        "childEPCs": children,
        "action": action,
        "bizStep": if action == "DELETE" { "unpacking" } else { "packing" },
        "readPoint": {"id": LOCATION},
    })
}

/// The codes of a verdict's reasons, in order.
pub fn reason_codes(answer: &Value) -> Vec<&str> {
    answer["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reason| reason["code"].as_str().unwrap())
        .collect()
}

/// The reason with `code` of a verdict.
pub fn reason<'a>(answer: &'a Value, code: &str) -> &'a Value {
    answer["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|reason| reason["code"] == code)
        .unwrap_or_else(|| panic!("no {code}: {answer}"))
}

/// Asserts that `client`'s role may run none of `statements`: each is refused for want of
/// privilege (by a grant, or by a trigger that guards what a grant allows).
pub async fn assert_refused(client: &tokio_postgres::Client, statements: &[&str]) {
    for statement in statements {
        let error = client.batch_execute(statement).await.unwrap_err();
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{statement}: {error}"
        );
    }
}
