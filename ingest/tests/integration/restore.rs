//! Backups and restores that cannot fork the log (docs/OPERATIONS.md, "Backup and restore").
//!
//! The checkpoint signer records every checkpoint in the published-checkpoint file before it
//! stores the row, and refuses to sign (and ingest to capture) while the database does not hold
//! that checkpoint's tree. Each test restores a real backup of a real PostgreSQL: a `pg_dump` of a
//! database of the shared server (dropped and restored from the dump), or a base backup and the
//! WAL archive of a private cluster (restored without the WAL, then with point-in-time recovery).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;
use service_kit::http::HttpService as _;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capture_client::{CaptureClient, Credential, Reply};
use common::{
    KeyDir, SERVICE_ROLE, TestApp, blocking, capture, document, receipts, temp_dir,
    write_checkpoint_key,
};
use ingest::{Application, Config};
use ledger::SiteId;
use ledger_store::testing::{EventFactory, PrivateCluster, TestDatabase, admin_url, connect};
use ledger_store::{Sequencer, Writer};
use registry::location::SiteLocation;
use secrecy::SecretString;

const HERE: &str = "urn:epc:id:sgln:0614141.00777.0";
const RUNBOOK: &str = "docs/OPERATIONS.md#checkpointsigningrefused";

/// A checkpoint key and its published-checkpoint file (the default: next to the key), outliving
/// the service processes of one test, as they outlive a restore of the database.
struct LogKey {
    _dir: KeyDir,
    key: PathBuf,
    published: PathBuf,
}

impl LogKey {
    fn new(tag: &str) -> Self {
        let dir = temp_dir(tag);
        let key = write_checkpoint_key(&dir.0);
        let published = dir.0.join("checkpoint.key.published");
        Self {
            _dir: dir,
            key,
            published,
        }
    }

    /// The published-checkpoint file's text, if there is one.
    fn published_note(&self) -> Option<String> {
        std::fs::read_to_string(&self.published).ok()
    }

    /// Settings using this key (and so this published-checkpoint file).
    fn adjust(&self) -> impl FnOnce(&mut Config) + use<> {
        let key = self.key.clone();
        move |config: &mut Config| config.ledger.checkpoint_key_file = key
    }
}

/// Polls `condition` until it holds (a minute at most), failing with `what`.
pub(crate) async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The newest stored checkpoint: its size and its note.
pub(crate) async fn newest_checkpoint(client: &tokio_postgres::Client) -> Option<(u64, String)> {
    client
        .query_opt(
            "SELECT tree_size, note FROM checkpoints ORDER BY tree_size DESC, index_size DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .map(|row| (row.get::<_, i64>(0) as u64, row.get(1)))
}

pub(crate) async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// Waits until a checkpoint covers `size` entries; returns its note.
pub(crate) async fn signed(client: &tokio_postgres::Client, size: u64) -> String {
    wait_until(&format!("a checkpoint of {size} entries"), || async move {
        newest_checkpoint(client).await.map(|(n, _)| n) == Some(size)
    })
    .await;
    newest_checkpoint(client).await.unwrap().1
}

pub(crate) async fn get_text(address: &str, path: &str) -> (u16, String) {
    let url = format!("{address}{path}");
    blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent.get(&url).call().unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    })
    .await
}

/// Waits until `/health/ready` answers `status` with a body containing `needle`; returns the body.
pub(crate) async fn ready_says(address: &str, status: u16, needle: &str) -> String {
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (now, body) = get_text(address, "/health/ready").await;
        if now == status && body.contains(needle) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/health/ready never answered {status} with {needle:?}; last: {now} {body} (before: {last})"
        );
        last = body;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs a command to success, or fails the test with its output.
fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `pg_dump` of a database, in the custom format.
/// Captures events 1 to 5 through `client`, waits for their checkpoint, dumps the database to
/// `dump`, then captures events 6 to 10: the dump holds a log of 5, and the checkpoint of 10 it
/// returns is published.
async fn ten_events_dumped_at_five(
    app: &TestApp,
    client: &Arc<CaptureClient>,
    dump: &Path,
) -> String {
    let first = capture(client, document(&[1, 2, 3, 4, 5], HERE), false).await;
    assert_eq!(first.status, 202);
    signed(&app.admin, 5).await;
    pg_dump(app.db.url(), dump).await;
    let second = capture(client, document(&[6, 7, 8, 9, 10], HERE), false).await;
    assert_eq!(second.status, 202);
    signed(&app.admin, 10).await
}

pub(crate) async fn pg_dump(url: &str, file: &Path) {
    let (url, file) = (url.to_owned(), file.to_owned());
    blocking(move || {
        run(Command::new("pg_dump")
            .args(["--format=custom", "--dbname", &url, "--file"])
            .arg(&file))
    })
    .await;
}

/// Replaces the test database by the content of a dump: dropped (cutting every connection),
/// created empty and restored in one transaction.
pub(crate) async fn restore_dump(db: &TestDatabase, file: &Path) {
    let admin = connect(&admin_url()).await.unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", db.name()))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {}", db.name()))
        .await
        .unwrap();
    let (url, file) = (db.url().to_owned(), file.to_owned());
    blocking(move || {
        run(Command::new("pg_restore")
            .args(["--single-transaction", "--exit-on-error", "--dbname", &url])
            .arg(&file))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_an_older_dump_stops_signing_and_captures_until_the_newer_dump_is_restored() {
    let log = LogKey::new("dump-key");
    let dumps = temp_dir("dumps");
    let (old_dump, new_dump) = (dumps.0.join("old.dump"), dumps.0.join("new.dump"));
    let db = TestDatabase::create().await.unwrap();

    // Five events, signed; a backup; five more, signed: the log published a checkpoint of 10.
    let mut app = TestApp::spawn_on(db, log.adjust()).await;
    let site = app.site("site-a", &[HERE]).await;
    let token = app.token(&site).await;
    let client = app.client(Credential::Token(token.clone()));
    let published = ten_events_dumped_at_five(&app, &client, &old_dump).await;
    assert_eq!(log.published_note().as_deref(), Some(published.as_str()));
    pg_dump(app.db.url(), &new_dump).await;
    let db = app.stop().await;

    // The older backup restored, ingest started with the same key and file: it refuses.
    restore_dump(&db, &old_dump).await;
    let app = TestApp::spawn_on(db, log.adjust()).await;
    let body = ready_says(&app.address, 503, "holds 5 entries, fewer than the 10").await;
    // The backup's checkpoints: of 5 entries (and that one signed again if the log was idle
    // long enough for the index to cover it before the backup).
    let restored = count(&app.admin, "checkpoints").await;
    assert!(
        body.contains(&log.published.display().to_string()),
        "{body}"
    );
    assert!(body.contains(RUNBOOK), "{body}");
    let (_, metrics) = get_text(&app.address, "/metrics").await;
    assert!(
        metrics.contains("ingest_checkpoint_signing_refused 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ingest_published_checkpoint_entries 10"),
        "{metrics}"
    );
    let client = app.client(Credential::Token(token.clone()));
    let refused = capture(&client, document(&[11, 12], HERE), false).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("holds 5 entries, fewer than the 10"),
        "{detail}"
    );
    assert!(
        !detail.contains(&log.published.display().to_string()),
        "{detail}"
    );
    assert_eq!(count(&app.admin, "events").await, 5);

    // The log grows behind ingest's back (another writer, as a superuser): the signer compares
    // the grown tree at every tick and still signs nothing, whether it is behind the published
    // size or past it with another root there.
    let store = Writer::connect(app.db.url()).unwrap();
    let other = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-9", 9);
    other.append(device.next_batch(2)).await.unwrap();
    ready_says(&app.address, 503, "holds 7 entries, fewer than the 10").await;
    other.append(device.next_batch(5)).await.unwrap();
    let body = ready_says(&app.address, 503, "tree at 10 entries has root").await;
    assert!(
        body.contains("another tree than the one published"),
        "{body}"
    );
    other.shutdown().await;
    drop(store);
    assert_eq!(newest_checkpoint(&app.admin).await.unwrap().0, 5);
    assert_eq!(
        count(&app.admin, "checkpoints").await,
        restored,
        "nothing signed"
    );
    assert_eq!(log.published_note().as_deref(), Some(published.as_str()));
    let db = app.stop().await;

    // Recovery: the newer backup. Signing and captures resume where the published log ended.
    restore_dump(&db, &new_dump).await;
    let app = TestApp::spawn_on(db, log.adjust()).await;
    ready_says(&app.address, 200, "ready").await;
    let client = app.client(Credential::Token(token));
    let reply = capture(&client, document(&[11, 12, 13], HERE), false).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let leaves: Vec<u64> = receipts(&reply).iter().map(|r| r.2).collect();
    assert_eq!(leaves, [10, 11, 12]);
    let note = signed(&app.admin, 13).await;
    assert_eq!(log.published_note(), Some(note));
    let (_, metrics) = get_text(&app.address, "/metrics").await;
    assert!(
        metrics.contains("ingest_checkpoint_signing_refused 0"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_checkpoint_file_is_written_before_the_checkpoint_row() {
    let log = LogKey::new("order-key");
    let db = TestDatabase::create().await.unwrap();
    let mut app = TestApp::spawn_on(db, log.adjust()).await;
    // The database refuses every checkpoint row: what the signer did before storing one stays.
    app.admin
        .batch_execute(
            "CREATE FUNCTION refuse_checkpoint() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'checkpoint rows refused by the test'; END $$;
             CREATE TRIGGER refuse_checkpoint BEFORE INSERT ON checkpoints
                 FOR EACH ROW EXECUTE FUNCTION refuse_checkpoint();",
        )
        .await
        .unwrap();
    let site = app.site("site-a", &[HERE]).await;
    let client = app.client(Credential::Token(app.token(&site).await));
    assert_eq!(
        capture(&client, document(&[1, 2, 3, 4], HERE), false)
            .await
            .status,
        202
    );
    let log_ref = &log;
    wait_until("the checkpoint of 4 entries in the file", || async move {
        log_ref
            .published_note()
            .is_some_and(|note| note.lines().nth(1) == Some("4"))
    })
    .await;
    assert_eq!(count(&app.admin, "checkpoints").await, 0);

    // The row is stored at a later tick, the same note byte for byte (signatures are
    // deterministic), and the file is left as it was.
    let recorded = log.published_note().unwrap();
    app.admin
        .batch_execute("DROP TRIGGER refuse_checkpoint ON checkpoints")
        .await
        .unwrap();
    assert_eq!(signed(&app.admin, 4).await, recorded);
    assert_eq!(log.published_note(), Some(recorded));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_published_checkpoint_file_is_created_from_the_database_at_start_up() {
    let log = LogKey::new("missing-key");
    let db = TestDatabase::create().await.unwrap();
    let mut app = TestApp::spawn_on(db, log.adjust()).await;
    let site = app.site("site-a", &[HERE]).await;
    let token = app.token(&site).await;
    let client = app.client(Credential::Token(token.clone()));
    assert_eq!(
        capture(&client, document(&[1, 2, 3], HERE), false)
            .await
            .status,
        202
    );
    signed(&app.admin, 3).await;
    let db = app.stop().await;
    // The newest, as stopped (the checkpoint of 3, or that one signed again with the index).
    let stored = db.connect().await.unwrap();
    let note = newest_checkpoint(&stored).await.unwrap().1;

    // A log that has checkpoints and no file (the first start of a version that keeps one).
    std::fs::remove_file(&log.published).unwrap();
    let app = TestApp::spawn_on(db, log.adjust()).await;
    assert_eq!(log.published_note(), Some(note));
    ready_says(&app.address, 200, "ready").await;
    let client = app.client(Credential::Token(token));
    assert_eq!(
        capture(&client, document(&[4], HERE), false).await.status,
        202
    );
    let note = signed(&app.admin, 4).await;
    let (log_ref, note_ref) = (&log, &note);
    wait_until("the file to follow the new checkpoint", || async move {
        log_ref.published_note().as_ref() == Some(note_ref)
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_foreign_published_checkpoint_file_stops_start_up_naming_it() {
    let log = LogKey::new("corrupt-key");
    let db = TestDatabase::create().await.unwrap();
    let url = db
        .login_role(SERVICE_ROLE, "tagtrail_ingest")
        .await
        .unwrap();
    let foreign = {
        // A checkpoint of this origin, signed by another key.
        use ledger::checkpoint::{Checkpoint, Origin};
        use ledger::note::{KeyName, NoteSignerKey};
        let other = NoteSignerKey::from_seed(KeyName::parse("ingest.test/log").unwrap(), &[7; 32]);
        Checkpoint::new(
            Origin::parse("ingest.test/log").unwrap(),
            ledger::TreeSize::new(3).unwrap(),
            ledger::RootHash::from_bytes([3; 32]),
        )
        .sign(&[&other])
        .unwrap()
        .to_message()
    };
    for (case, content) in [
        ("garbage", "not a checkpoint\n".to_owned()),
        ("empty", String::new()),
        ("another key's", foreign),
    ] {
        std::fs::write(&log.published, &content).unwrap();
        let config = Config::new(
            SecretString::from(url.clone()),
            log.key.clone(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let error = match Application::build(config).await {
            Ok(_) => panic!("{case}: ingest started with a corrupt published-checkpoint file"),
            Err(error) => format!("{error:#}"),
        };
        assert!(
            error.contains(&log.published.display().to_string()),
            "{case}: {error}"
        );
        assert!(
            error.contains("not a checkpoint of this log"),
            "{case}: {error}"
        );
        assert!(error.contains(RUNBOOK), "{case}: {error}");
        // Left as it was, for the operator to look at.
        assert_eq!(log.published_note(), Some(content));
    }
    drop(db);
}

/// A private cluster archiving its WAL (`archive_command`), and what a point-in-time recovery
/// needs: its data directory, the archive, and the server's tools.
struct ArchivingCluster {
    cluster: PrivateCluster,
    data: PathBuf,
    archive: PathBuf,
    base_backup: PathBuf,
    bin: PathBuf,
    port: String,
}

/// Whether this process is root (then the server's files belong to the `postgres` OS user, as
/// `PrivateCluster` arranges).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout == b"0\n")
}

/// A command running `program` as the `postgres` OS user when this process is root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(program)
            .current_dir("/");
        command
    } else {
        Command::new(program)
    }
}

fn give_to_postgres(path: &Path) {
    if is_root() {
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path));
    }
}

impl ArchivingCluster {
    async fn start() -> Self {
        let cluster = blocking(|| PrivateCluster::start().unwrap()).await;
        let admin = connect(&cluster.url(PrivateCluster::SUPERUSER, "", "postgres"))
            .await
            .unwrap();
        let setting = |name: &'static str| {
            let admin = &admin;
            async move {
                admin
                    .query_one(&format!("SELECT current_setting('{name}')"), &[])
                    .await
                    .unwrap()
                    .get::<_, String>(0)
            }
        };
        let data = PathBuf::from(setting("data_directory").await);
        let major = setting("server_version_num").await.parse::<u32>().unwrap() / 10_000;
        let port = setting("port").await;
        let home = data.parent().unwrap().to_owned();
        let archive = home.join("archive");
        std::fs::create_dir_all(&archive).unwrap();
        give_to_postgres(&archive);
        // Continuous archiving, as docs/OPERATIONS.md sets it up.
        admin
            .batch_execute("ALTER SYSTEM SET archive_mode = 'on'")
            .await
            .unwrap();
        admin
            .batch_execute(&format!(
                "ALTER SYSTEM SET archive_command = 'test ! -f {0}/%f && cp %p {0}/%f'",
                archive.display()
            ))
            .await
            .unwrap();
        drop(admin);
        let cluster = Arc::new(cluster);
        {
            let cluster = cluster.clone();
            blocking(move || {
                cluster.pg_ctl(&["stop", "-m", "fast", "-w"]).unwrap();
                cluster.pg_ctl(&["start", "-w", "-t", "60"]).unwrap();
            })
            .await;
        }
        let cluster = Arc::into_inner(cluster).unwrap();
        Self {
            cluster,
            data,
            archive,
            base_backup: home.join("base-backup"),
            bin: PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")),
            port,
        }
    }

    fn superuser_url(&self, database: &str) -> String {
        self.cluster.url(PrivateCluster::SUPERUSER, "", database)
    }

    /// `pg_basebackup` of the running cluster (with the WAL it needs to be consistent).
    async fn base_backup(&self) {
        let mut command = as_postgres(&self.bin.join("pg_basebackup"));
        command
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port,
                "-U",
                PrivateCluster::SUPERUSER,
            ])
            .arg("-D")
            .arg(&self.base_backup)
            .args(["--checkpoint=fast", "--wal-method=stream"]);
        blocking(move || run(&mut command)).await;
    }

    /// Closes the current WAL segment and waits until the archive holds it: every commit so far
    /// is in the archive.
    async fn archive_everything(&self) {
        let admin = connect(&self.superuser_url("postgres")).await.unwrap();
        let segment: String = admin
            .query_one("SELECT pg_walfile_name(pg_switch_wal())", &[])
            .await
            .unwrap()
            .get(0);
        let (admin, segment) = (&admin, &segment);
        wait_until("the WAL to be archived", || async move {
            let archived: Option<String> = admin
                .query_one("SELECT last_archived_wal FROM pg_stat_archiver", &[])
                .await
                .unwrap()
                .get(0);
            archived.is_some_and(|archived| archived >= *segment)
        })
        .await;
    }

    /// Stops the server at once (the machine is lost) and replaces its data directory by a copy of
    /// the base backup, with `settings` appended to its `postgresql.auto.conf` and, for a
    /// point-in-time recovery, `recovery.signal`; starts it and waits until it is out of
    /// recovery.
    async fn restore_base_backup(&self, settings: &str, recovery: bool) {
        let (data, base) = (self.data.clone(), self.base_backup.clone());
        let settings = settings.to_owned();
        let cluster = &self.cluster;
        tokio::task::block_in_place(|| {
            cluster.pg_ctl(&["stop", "-m", "immediate", "-w"]).unwrap();
            std::fs::remove_dir_all(&data).unwrap();
            run(Command::new("cp").arg("-a").arg(&base).arg(&data));
            let auto = data.join("postgresql.auto.conf");
            let mut conf = std::fs::read_to_string(&auto).unwrap();
            conf.push_str(&settings);
            std::fs::write(&auto, conf).unwrap();
            if recovery {
                std::fs::write(data.join("recovery.signal"), "").unwrap();
            }
            give_to_postgres(&data);
            cluster.pg_ctl(&["start", "-w", "-t", "120"]).unwrap();
        });
        let admin = connect(&self.superuser_url("postgres")).await.unwrap();
        let admin = &admin;
        wait_until("the end of recovery", || async move {
            !admin
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await
                .unwrap()
                .get::<_, bool>(0)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_backup_without_its_wal_is_refused_and_point_in_time_recovery_resumes_signing() {
    let postgres = ArchivingCluster::start().await;
    {
        let setup = connect(&postgres.superuser_url("postgres")).await.unwrap();
        setup.batch_execute("CREATE DATABASE ledger").await.unwrap();
    }
    let mut owner = connect(&postgres.superuser_url("ledger")).await.unwrap();
    ledger_store::migrate(&mut owner).await.unwrap();
    common::ensure_service_role(&owner).await;
    let site = SiteId::parse("site-a").unwrap();
    registry::add_site(&owner, &site, "", None).await.unwrap();
    registry::add_site_locations(&mut owner, &site, &[SiteLocation::parse(HERE).unwrap()])
        .await
        .unwrap();
    let token = registry::create_token(&owner, &site, "")
        .await
        .unwrap()
        .expose();
    drop(owner);

    let log = LogKey::new("pitr-key");
    let mut config = Config::new(
        SecretString::from(postgres.cluster.url(SERVICE_ROLE, SERVICE_ROLE, "ledger")),
        log.key.clone(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    config.http.workers = Some(2);
    config.database.connect_timeout = Duration::from_secs(2);
    config.ledger.checkpoint_interval = Duration::from_millis(100);
    let app = Application::build(config).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let client = Arc::new(CaptureClient::new(&address, Credential::Token(token)));
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    let send = |serials: Vec<u64>| {
        let client = client.clone();
        async move { blocking(move || client.capture(&document(&serials, HERE), None).unwrap()).await }
    };
    let ledger = || {
        let url = postgres.superuser_url("ledger");
        async move { connect(&url).await.unwrap() }
    };

    // Five events signed; a base backup; five more signed and their WAL archived.
    assert_eq!(send(vec![1, 2, 3, 4, 5]).await.status, 202);
    signed(&ledger().await, 5).await;
    postgres.base_backup().await;
    assert_eq!(send(vec![6, 7, 8, 9, 10]).await.status, 202);
    let published = signed(&ledger().await, 10).await;
    assert_eq!(log.published_note().as_deref(), Some(published.as_str()));
    postgres.archive_everything().await;

    // The server is lost and the base backup restored alone (without replaying the archive,
    // and without archiving anything of its own). Ingest, still running, refuses.
    postgres
        .restore_base_backup("archive_mode = 'off'\n", false)
        .await;
    ready_says(&address, 503, "holds 5 entries, fewer than the 10").await;
    let refused: Reply = send(vec![11]).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    let admin = ledger().await;
    assert_eq!(count(&admin, "events").await, 5);
    assert_eq!(newest_checkpoint(&admin).await.unwrap().0, 5);
    drop(admin);

    // Point-in-time recovery to the end of the archived WAL: ingest resumes by itself.
    postgres
        .restore_base_backup(
            &format!(
                "restore_command = 'cp {}/%f %p'\n",
                postgres.archive.display()
            ),
            true,
        )
        .await;
    let admin = ledger().await;
    // The published tree (its checkpoint, or that one signed again with the index caught up,
    // if the archive holds that too).
    let tree = |note: &str| note.lines().take(3).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        tree(&newest_checkpoint(&admin).await.unwrap().1),
        tree(&published)
    );
    ready_says(&address, 200, "ready").await;
    let reply = send(vec![11, 12, 13]).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let leaves: Vec<u64> = receipts(&reply).iter().map(|r| r.2).collect();
    assert_eq!(leaves, [10, 11, 12]);
    let note = signed(&admin, 13).await;
    assert_eq!(log.published_note(), Some(note));
    drop(admin);

    handle.stop(true).await;
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_published_file_lost_too_the_newest_anchor_on_chain_refuses_an_old_backup() {
    use anchor::worker::Progress;

    let log = LogKey::new("anchor-key");
    let dumps = temp_dir("anchor-dumps");
    let old_dump = dumps.0.join("old.dump");
    let db = TestDatabase::create().await.unwrap();
    let mut app = TestApp::spawn_on(db, log.adjust()).await;
    let site = app.site("site-a", &[HERE]).await;
    let token = app.token(&site).await;
    let client = app.client(Credential::Token(token.clone()));
    ten_events_dumped_at_five(&app, &client, &old_dump).await;

    // The anchor worker publishes the checkpoint of 10 on a chain of the test's own.
    let anvil = anchor::testing::Anvil::start();
    let url = app
        .db
        .login_role("tagtrail_anchor_ingest_test", "tagtrail_anchor")
        .await
        .unwrap();
    let worker = anchor::testing::started_worker(&anvil, &url).await;
    match worker.tick().await.unwrap() {
        Progress::Sent {
            tree_size: 10,
            tx_hash,
        } => {
            anvil.mined(&tx_hash);
        }
        other => panic!("expected the checkpoint of 10 sent, got {other:?}"),
    }
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 10 }
    );
    // Its pool's connections close with it.
    drop(worker);
    let db = app.stop().await;

    // The older backup restored, and the published-checkpoint file lost with the old machine.
    restore_dump(&db, &old_dump).await;
    std::fs::remove_file(&log.published).unwrap();
    let rpc = anvil.url.clone();
    let adjust = log.adjust();
    let app = TestApp::spawn_on(db, move |config| {
        adjust(config);
        config.ledger.anchor_rpc_url = Some(SecretString::from(rpc));
    })
    .await;
    // The chain still knows the checkpoint of 10: recorded as published, so the restored log of 5
    // is refused.
    ready_says(&app.address, 503, "holds 5 entries, fewer than the 10").await;
    let recorded = log.published_note().unwrap();
    assert!(recorded.contains("\n10\n"), "{recorded}");
    let client = app.client(Credential::Token(token));
    let refused = capture(&client, document(&[11], HERE), false).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(
        newest_checkpoint(&app.admin).await.unwrap().0,
        5,
        "nothing signed"
    );
    app.stop().await;
}
