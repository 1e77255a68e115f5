//! Per-test PostgreSQL databases for integration tests (this crate's and other crates'), behind the
//! `testing` feature.
//!
//! The first test of a process makes sure a migrated template database exists — named after a
//! fingerprint of the migrations, so changed migrations get a new one, and built under an advisory
//! lock, so concurrent test processes (nextest runs one per test) build it once. Each test then gets
//! `CREATE DATABASE <unique name> TEMPLATE <template>`, dropped when the [`TestDatabase`] is dropped.
//!
//! The server is the superuser URL in `TAGTRAIL_ADMIN_DATABASE_URL` (written by `scripts/services`),
//! or [`DEFAULT_ADMIN_URL`] when it is unset. A test that must restart its server, or replicate
//! from it, runs a [`PrivateCluster`] of its own instead.

mod cluster;

pub use cluster::{ClusterError, PrivateCluster};

use std::sync::atomic::{AtomicU32, Ordering};

use epcis::EventHash;
use epcis::hash::{HashContext, event_hash};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;
use tokio_postgres::{Client, NoTls};

use super::entry::{NewBatch, NewEntry, SignedBatch};
use super::keys::LookupKeys;
use super::migrate::{migrate, migrations_fingerprint};
use ledger::batch::{DeviceSigningKey, EventBatch};
use ledger::ids::{DeviceId, UnixMillis};
use ledger::record::Attestation;

/// The superuser URL used when `TAGTRAIL_ADMIN_DATABASE_URL` is unset (what `scripts/services` sets up).
pub const DEFAULT_ADMIN_URL: &str =
    "postgres://tagtrail_admin:tagtrail_admin@127.0.0.1:5432/postgres";

/// The environment variable naming the superuser URL.
pub const ADMIN_URL_VARIABLE: &str = "TAGTRAIL_ADMIN_DATABASE_URL";

static TEMPLATE: OnceCell<String> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database of its own for one test, migrated, dropped (with any open connections) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

/// Why a test database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TestDatabaseError {
    #[error("{ADMIN_URL_VARIABLE} is not a postgres:// URL with a database name: {0}")]
    BadUrl(String),
    #[error("failed to connect to {0}")]
    Connect(String, #[source] tokio_postgres::Error),
    #[error("failed to {0}")]
    Sql(&'static str, #[source] tokio_postgres::Error),
    #[error("failed to migrate the template database")]
    Migrate(#[source] super::migrate::MigrateError),
}

impl TestDatabase {
    /// Creates a fresh, migrated database from the template (building the template if needed).
    pub async fn create() -> Result<Self, TestDatabaseError> {
        let admin_url = admin_url();
        let template = TEMPLATE
            .get_or_try_init(|| ensure_template(&admin_url))
            .await?
            .clone();
        Self::create_from(admin_url, Some(&template)).await
    }

    /// Creates a fresh database without any migration applied (to test migrating).
    pub async fn create_empty() -> Result<Self, TestDatabaseError> {
        Self::create_from(admin_url(), None).await
    }

    async fn create_from(
        admin_url: String,
        template: Option<&str>,
    ) -> Result<Self, TestDatabaseError> {
        let name = format!(
            "tagtrail_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let admin = connect(&admin_url).await?;
        let sql = match template {
            Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
            None => format!("CREATE DATABASE {name}"),
        };
        admin
            .batch_execute(&sql)
            .await
            .map_err(|e| TestDatabaseError::Sql("create the test database", e))?;
        let url = with_database(&admin_url, &name)?;
        Ok(Self {
            name,
            url,
            admin_url,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A superuser URL of this database (the admin URL with the database name replaced).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Makes sure the login role `role` exists as a member of `group` only
    /// ([`create_login_role`]), and returns this database's URL logging in as it: how a service
    /// under test connects with least privilege.
    pub async fn login_role(&self, role: &str, group: &str) -> Result<String, TestDatabaseError> {
        create_login_role(&self.connect().await?, role, group).await?;
        let bad = || TestDatabaseError::BadUrl(redact(&self.url));
        let (scheme, rest) = self.url.split_once("://").ok_or_else(bad)?;
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        Ok(format!("{scheme}://{role}:{role}@{host}"))
    }

    /// A new superuser connection to this database.
    pub async fn connect(&self) -> Result<Client, TestDatabaseError> {
        connect(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Dropping is I/O, and `drop` may run inside a runtime that must not block: run it on a
        // thread of its own with a runtime of its own, and wait for it.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = connect(&admin_url).await {
                    // A leftover database only costs disk; a failed drop must not fail the test.
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// Makes sure the login role `role` exists as a member of `group` only, with its name as its
/// password, through a superuser connection `admin` (roles are cluster-wide and tests run
/// concurrently, so an existing one is kept). `role` and `group` are plain lower-case SQL
/// identifiers.
pub async fn create_login_role(
    admin: &Client,
    role: &str,
    group: &str,
) -> Result<(), TestDatabaseError> {
    let plain = |name: &str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
    };
    if !plain(role) || !plain(group) {
        return Err(TestDatabaseError::BadUrl(format!(
            "role names must be plain identifiers: {role}, {group}"
        )));
    }
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN
                 CREATE ROLE {role} LOGIN PASSWORD '{role}' IN ROLE {group};
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;"
        ))
        .await
        .map_err(|e| TestDatabaseError::Sql("create the login role", e))
}

/// The superuser URL: `TAGTRAIL_ADMIN_DATABASE_URL`, or [`DEFAULT_ADMIN_URL`].
pub fn admin_url() -> String {
    std::env::var(ADMIN_URL_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned())
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> Result<String, TestDatabaseError> {
    let bad = || TestDatabaseError::BadUrl(url.to_owned());
    let (before_query, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = before_query.find("://").ok_or_else(bad)? + 3;
    let path_start = before_query[authority_start..]
        .find('/')
        .map_or(before_query.len(), |at| authority_start + at);
    let mut out = format!("{}/{}", &before_query[..path_start], database);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// Connects without TLS (the test server is local) and drives the connection on the runtime.
pub async fn connect(url: &str) -> Result<Client, TestDatabaseError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| TestDatabaseError::Connect(redact(url), e))?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped; its errors surface on the client's calls.
        let _ = connection.await;
    });
    Ok(client)
}

/// Makes sure the migrated template of the current migrations exists; returns its name.
async fn ensure_template(admin_url: &str) -> Result<String, TestDatabaseError> {
    let fingerprint = migrations_fingerprint();
    let mut hex = String::with_capacity(16);
    for byte in &fingerprint[..8] {
        hex.push_str(&format!("{byte:02x}"));
    }
    let name = format!("tagtrail_template_{hex}");
    let lock_key = i64::from_be_bytes([
        fingerprint[8],
        fingerprint[9],
        fingerprint[10],
        fingerprint[11],
        fingerprint[12],
        fingerprint[13],
        fingerprint[14],
        fingerprint[15],
    ]);
    let admin = connect(admin_url).await?;
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&lock_key])
        .await
        .map_err(|e| TestDatabaseError::Sql("lock the template", e))?;
    let ready = admin
        .query_opt(
            "SELECT datistemplate FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .map_err(|e| TestDatabaseError::Sql("look up the template", e))?
        .map(|row| row.get::<_, bool>(0));
    match ready {
        Some(true) => {}
        existing => {
            if existing.is_some() {
                // A build that died half-way: start again.
                admin
                    .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .await
                    .map_err(|e| TestDatabaseError::Sql("drop a half-built template", e))?;
            }
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .map_err(|e| TestDatabaseError::Sql("create the template", e))?;
            {
                let mut client = connect(&with_database(admin_url, &name)?).await?;
                migrate(&mut client)
                    .await
                    .map_err(TestDatabaseError::Migrate)?;
            }
            // The migrating connection must be gone before the database can be a template source.
            admin
                .batch_execute(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';
                     ALTER DATABASE {name} WITH IS_TEMPLATE true"
                ))
                .await
                .map_err(|e| TestDatabaseError::Sql("mark the template", e))?;
        }
    }
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&lock_key])
        .await
        .map_err(|e| TestDatabaseError::Sql("unlock the template", e))?;
    Ok(name)
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Realistic EPCIS 2.0 ObjectEvents from one simulated device (about 700 bytes of JSON, five
/// EPCs each), hashed and wrapped in signed device batches ready to append, with their lookup
/// keys attached as ingest attaches them (unless [`without_lookup_keys`](Self::without_lookup_keys)).
#[derive(Debug)]
pub struct EventFactory {
    device: DeviceId,
    key: DeviceSigningKey,
    next_event: u64,
    next_sequence: u64,
    lookup_keys: bool,
    event_ids: bool,
}

impl EventFactory {
    /// A device named `device` (an id without spaces) whose key derives from `seed`. Events of
    /// factories with different names differ.
    pub fn new(device: &str, seed: u8) -> Self {
        Self {
            // Test fixture: callers pass literal, valid ids.
            #[allow(clippy::expect_used)]
            device: DeviceId::parse(device).expect("a valid device id"),
            key: DeviceSigningKey::from_seed(&[seed; 32]),
            next_event: 0,
            next_sequence: 0,
            lookup_keys: true,
            event_ids: false,
        }
    }

    /// The same factory, giving every event an `eventID` (`urn:uuid:...`, derived from the device
    /// and the event's number).
    pub fn with_event_ids(mut self) -> Self {
        self.event_ids = true;
        self
    }

    /// The `n`-th event declared erroneous by `declaration` (the `errorDeclaration` member), as
    /// stored, and its CBV 2.0 hash: that of the `n`-th event, which the declaration names.
    pub fn declaration(&self, n: u64, declaration: Value) -> (String, EventHash) {
        let mut event = self.event(n);
        event.insert("errorDeclaration".to_owned(), declaration);
        // The fixture's events are well-formed ObjectEvents; hashing them cannot fail.
        #[allow(clippy::expect_used)]
        let hash = event_hash(&event, &HashContext::new()).expect("a hashable event");
        (Value::Object(event).to_string(), hash)
    }

    /// The device's public key, to register it.
    pub fn public_key(&self) -> ledger::batch::DevicePublicKey {
        self.key.public_key()
    }

    /// The same factory, making entries without lookup keys (the indexer then parses the stored
    /// JSON, as for entries appended by another process).
    pub fn without_lookup_keys(mut self) -> Self {
        self.lookup_keys = false;
        self
    }

    /// The self-contained JSON object of this device's `n`-th event (the same `n` always gives
    /// the same event).
    pub fn event(&self, n: u64) -> Map<String, Value> {
        let epcs: Vec<Value> = (0..5u64)
            .map(|k| {
                let serial =
                    mix(n.wrapping_mul(5).wrapping_add(k) ^ mix(self.device.as_str().len() as u64))
                        % 1_000_000_000_000;
                Value::String(format!("urn:epc:id:sgtin:4012345.011111.{serial}"))
            })
            .collect();
        let seconds = 1_700_000_000 + n / 50;
        let json = serde_json::json!({
            "type": "ObjectEvent",
            "eventTime": UnixMillis::from_millis(seconds * 1000 + (n % 50) * 20).to_rfc3339(),
            "eventTimeZoneOffset": "+01:00",
            "epcList": epcs,
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "readPoint": {"id": format!("urn:epc:id:sgln:4012345.00001.{}", n % 20)},
            "bizLocation": {"id": "urn:epc:id:sgln:4012345.00001.0"},
            "bizTransactionList": [{"type": "po", "bizTransaction": format!("urn:epc:id:gdti:4012345.00001.{}", n % 1000)}],
            "example:reader": {"device": self.device.as_str(), "event": n},
            "@context": {"example": "https://ns.example.com/epcis/"}
        });
        let mut event = match json {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        if self.event_ids {
            let id = mix(n ^ mix(self.device.as_str().len() as u64 + 7));
            event.insert(
                "eventID".to_owned(),
                Value::String(format!(
                    "urn:uuid:{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    id >> 32,
                    (id >> 16) & 0xffff,
                    id & 0xfff,
                    n & 0xfff,
                    n & 0xffff_ffff_ffff
                )),
            );
        }
        event
    }

    /// The next `count` new events of this device as one signed batch.
    pub fn next_batch(&mut self, count: usize) -> NewBatch {
        let first = self.next_event;
        self.next_event += count as u64;
        self.batch_of(first..first + count as u64)
    }

    /// The events numbered `numbers` (new or already sent) as one signed batch, in that order.
    pub fn batch_of(&mut self, numbers: impl IntoIterator<Item = u64>) -> NewBatch {
        let events = numbers.into_iter().map(|n| self.hashed_event(n)).collect();
        self.batch_from(events)
    }

    /// The `n`-th event as stored (its JSON text) and its CBV 2.0 hash.
    pub fn hashed_event(&self, n: u64) -> (String, EventHash) {
        let event = self.event(n);
        // The fixture's events are well-formed ObjectEvents; hashing them cannot fail.
        #[allow(clippy::expect_used)]
        let hash = event_hash(&event, &HashContext::new()).expect("a hashable event");
        (Value::Object(event).to_string(), hash)
    }

    /// Already hashed events (see [`hashed_event`](Self::hashed_event)) as one signed batch of
    /// this device, in the given order.
    pub fn batch_from(&mut self, events: Vec<(String, EventHash)>) -> NewBatch {
        let hashes: Vec<EventHash> = events.iter().map(|(_, hash)| *hash).collect();
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let now = now_millis();
        // 1 to 2^20 events make a batch; fixtures ask for far fewer.
        #[allow(clippy::expect_used)]
        let tree = EventBatch::new(&hashes).expect("a batch of 1 to 2^20 events");
        let statement = tree.statement(self.device.clone(), now, sequence);
        let signature = statement.sign(&self.key);
        let statement_hash = statement.hash();
        let entries = events
            .into_iter()
            .enumerate()
            .map(|(index, (event, hash))| {
                let attestation = Attestation::Device {
                    device: self.device.clone(),
                    statement: statement_hash,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                };
                let keys = self
                    .lookup_keys
                    .then(|| LookupKeys::of_json(&event).ok())
                    .flatten();
                // Error declarations (from `declaration`) are appended as such.
                let declaration = event
                    .contains("\"errorDeclaration\"")
                    .then(|| serde_json::from_str::<Map<String, Value>>(&event).ok())
                    .flatten()
                    .and_then(|mut parsed| parsed.remove("errorDeclaration"));
                #[allow(clippy::expect_used)]
                let entry = NewEntry::recorded(event, hash, now, attestation, declaration.as_ref())
                    .expect("an index below 2^20");
                match keys {
                    Some(keys) => entry.with_lookup_keys(keys),
                    None => entry,
                }
            })
            .collect();
        #[allow(clippy::expect_used)]
        let signed =
            SignedBatch::new(statement, signature, hashes).expect("the batch's own hashes");
        #[allow(clippy::expect_used)]
        NewBatch::from_device(signed, entries).expect("entries of their own batch")
    }
}

/// A cheap integer mixer (SplitMix64's finaliser) for varied but reproducible serial numbers.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn now_millis() -> UnixMillis {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    UnixMillis::from_millis(millis)
}

/// Every stored leaf record, in leaf order, read from the entry bundle rows (whose consecutiveness
/// this checks).
///
/// # Panics
///
/// When the rows cannot be read or do not hold consecutive, well-framed records.
pub async fn stored_leaf_records(client: &Client) -> Vec<Vec<u8>> {
    let rows = client
        .query(
            "SELECT bundle_index, first, width, entries FROM entry_bundles
             ORDER BY bundle_index, first",
            &[],
        )
        .await
        .unwrap_or_else(|error| panic!("cannot read the entry bundles: {error}"));
    let mut records = Vec::new();
    for row in rows {
        // The table's CHECK constraints keep these non-negative and within a bundle.
        let (bundle, first, width): (i64, i16, i16) = (row.get(0), row.get(1), row.get(2));
        let at = bundle as u64 * super::bundles::BUNDLE + first as u64;
        assert_eq!(
            at,
            records.len() as u64,
            "entry bundle rows are consecutive"
        );
        let held = super::bundles::row_records(first as u16, width as u16, row.get(3))
            .unwrap_or_else(|error| panic!("bundle {bundle} from {first}: {error}"));
        records.extend(held.into_iter().map(<[u8]>::to_vec));
    }
    records
}

/// The first leaf of the event pack holding entry `leaf`, as an SQL expression.
fn pack_of(leaf: u64) -> String {
    format!("(SELECT max(first_leaf) FROM event_packs WHERE first_leaf <= {leaf})")
}

/// SQL that takes entry `leaf`'s event out of the log, as a tamperer with the superuser's rights
/// would (run it with triggers disabled): the event pack holding it is replaced by packs of the
/// entries before and after it, so that exactly this entry is missing.
pub fn delete_event_sql(leaf: u64) -> String {
    let pack = pack_of(leaf);
    let next = leaf + 1;
    format!(
        "WITH gone AS (DELETE FROM event_packs WHERE first_leaf = {pack} RETURNING *)
         INSERT INTO event_packs (first_leaf, event_hashes, events)
         SELECT first_leaf, substring(event_hashes FROM 1 FOR 32 * ({leaf} - first_leaf)::integer),
                events[1:{leaf} - first_leaf]
         FROM gone WHERE first_leaf < {leaf}
         UNION ALL
         SELECT {next}, substring(event_hashes FROM 32 * ({next} - first_leaf)::integer + 1),
                events[{next} - first_leaf + 1:]
         FROM gone WHERE {next} < first_leaf + cardinality(events)"
    )
}

/// SQL that replaces entry `leaf`'s stored event by the SQL expression `new_event` makes of the
/// stored text's (run it with triggers disabled).
pub fn change_event_sql(leaf: u64, new_event: impl FnOnce(&str) -> String) -> String {
    let pack = pack_of(leaf);
    let expression = new_event(&format!("events[{leaf} - first_leaf + 1]"));
    format!(
        "UPDATE event_packs SET events[{leaf} - first_leaf + 1] = {expression}
         WHERE first_leaf = {pack}"
    )
}

/// SQL that overwrites entry `leaf`'s stored event hash with `hash`, an SQL expression of 32
/// bytes (run it with triggers disabled).
pub fn change_event_hash_sql(leaf: u64, hash: &str) -> String {
    let pack = pack_of(leaf);
    format!(
        "UPDATE event_packs
         SET event_hashes = overlay(event_hashes PLACING {hash}
                                    FROM 32 * ({leaf} - first_leaf)::integer + 1 FOR 32)
         WHERE first_leaf = {pack}"
    )
}

/// The JSON documents (`.json`, `.jsonld`) under `testdata/<dir>` of this repository, in every
/// subdirectory, sorted: the GS1 reference examples (`gs1-epcis/examples`) and the CBV event-hash
/// examples (`event-hash/examples`) that tests walk.
///
/// # Panics
///
/// When the directory cannot be read (a test without its data is a broken test).
pub fn testdata_documents(dir: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "json" || extension == "jsonld")
            {
                found.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(dir);
    let mut found = Vec::new();
    walk(&root, &mut found);
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://u:p@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x").unwrap(),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h", "x").unwrap(),
            "postgres://h/x"
        );
        assert!(with_database("not a url", "x").is_err());
    }

    #[test]
    fn factory_events_are_realistic_in_size_and_distinct() {
        let factory = EventFactory::new("dock-door-1", 1);
        let a = Value::Object(factory.event(1)).to_string();
        let b = Value::Object(factory.event(2)).to_string();
        assert_ne!(a, b);
        assert!((600..900).contains(&a.len()), "{} bytes: {a}", a.len());
        assert_eq!(a, Value::Object(factory.event(1)).to_string());
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
