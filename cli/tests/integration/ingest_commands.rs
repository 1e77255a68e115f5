//! `tagtrail site|device|token|capture` against an ingest service started in-process on a
//! database of its own: the administration commands print what they created, and the receipts
//! `tagtrail capture` prints carry the event hashes `tagtrail epcis hash` prints.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use service_kit::http::HttpService as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use ingest::{Application, Config};
use ledger::note::{KeyName, NoteSignerKey};
use ledger_store::testing::TestDatabase;
use secrecy::SecretString;
use tokio::task::JoinHandle;

const SERVICE_ROLE: &str = "tagtrail_ingest_test";

/// An ingest service in-process, on a database of its own, and a directory for the test's files.
pub struct Ingest {
    pub db: TestDatabase,
    /// Its base URL.
    pub url: String,
    pub dir: PathBuf,
    handle: actix_web::dev::ServerHandle,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Ingest {
    /// Starts one; `name` tells the test's directory apart.
    pub async fn start(name: &str) -> Self {
        let db = TestDatabase::create().await.unwrap();
        let service_url = db
            .login_role(SERVICE_ROLE, "tagtrail_ingest")
            .await
            .unwrap();
        let dir = std::env::temp_dir().join(format!("cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let checkpoint_key = dir.join("checkpoint.key");
        let signer = NoteSignerKey::from_seed(KeyName::parse("cli.test/log").unwrap(), &[3; 32]);
        std::fs::write(&checkpoint_key, signer.to_private_text().as_str()).unwrap();
        let config = Config::new(
            SecretString::from(service_url),
            checkpoint_key,
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let app = Application::build(config).await.unwrap();
        let url = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let server = tokio::spawn(app.run_until_stopped());
        Self {
            db,
            url,
            dir,
            handle,
            server,
        }
    }

    /// Stops the service and removes the directory.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.server.await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn tagtrail(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tagtrail"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn examples() -> Vec<PathBuf> {
    ledger_store::testing::testdata_documents("gs1-epcis/examples")
}

fn locations(file: &Path) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let body = &value["epcisBody"];
    let events = body["eventList"]
        .as_array()
        .or_else(|| body["queryResults"]["resultsBody"]["eventList"].as_array())
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for event in events {
        for field in ["readPoint", "bizLocation"] {
            if let Some(id) = event[field]["id"].as_str() {
                out.push(id.to_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_and_capture_commands_work_end_to_end() {
    let ingest = Ingest::start("ingest").await;
    let (url, dir) = (ingest.url.clone(), ingest.dir.clone());
    let database = ingest.db.url().to_owned();

    // A site owning every location of the GS1 examples.
    let files = examples();
    let mut all_locations: Vec<String> = files.iter().flat_map(|f| locations(f)).collect();
    all_locations.sort();
    all_locations.dedup();
    let mut site_add = args(&[
        "site",
        "add",
        "--id",
        "demo-site",
        "--name",
        "Demo",
        "--database-url",
        &database,
    ]);
    for location in &all_locations {
        site_add.push("--location".to_owned());
        site_add.push(location.clone());
    }
    let printed = stdout(&tagtrail(site_add).await);
    assert!(
        printed.starts_with(&format!(
            "site demo-site added with {} location(s)",
            all_locations.len()
        )),
        "{printed}"
    );

    // A device key pair and the device.
    let device_key = dir.join("device.key");
    let public = stdout(
        &tagtrail(args(&[
            "device",
            "keygen",
            "--out",
            device_key.to_str().unwrap(),
        ]))
        .await,
    );
    assert!(public.contains("\"algorithm\":\"ed25519\""), "{public}");
    let public_path = format!("{}.pub", device_key.display());
    let printed = stdout(
        &tagtrail(args(&[
            "device",
            "add",
            "--id",
            "dock-door-1",
            "--site",
            "demo-site",
            "--public-key",
            &public_path,
            "--database-url",
            &database,
        ]))
        .await,
    );
    assert!(
        printed.starts_with("device dock-door-1 added to site demo-site"),
        "{printed}"
    );

    // A token.
    let token = stdout(
        &tagtrail(args(&[
            "token",
            "create",
            "--site",
            "demo-site",
            "--database-url",
            &database,
        ]))
        .await,
    );
    let token = token.trim().to_owned();
    assert!(
        token.starts_with("tt_") && token.len() == 3 + 16 + 1 + 64,
        "{token}"
    );

    // Every GS1 example through `tagtrail capture` with the token: receipts carry the hashes of
    // `tagtrail epcis hash`, one line per event.
    for file in &files {
        let file = file.to_str().unwrap();
        let expected = stdout(&tagtrail(args(&["epcis", "hash", file])).await);
        let printed =
            stdout(&tagtrail(args(&["capture", "--url", &url, "--token", &token, file])).await);
        let lines: Vec<serde_json::Value> = printed
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let hashes: Vec<&str> = lines
            .iter()
            .map(|line| line["eventHash"].as_str().unwrap())
            .collect();
        assert_eq!(hashes, expected.lines().collect::<Vec<_>>(), "{file}");
        assert!(
            lines.iter().all(|line| line["leafIndex"].is_u64()),
            "{printed}"
        );
    }

    // As the device, signing the batch: one new document, then a retry that appends nothing.
    let document = dir.join("new.json");
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    // Another time than the example's makes it another event (a past one: a future eventTime is refused).
    value["epcisBody"]["eventList"][0]["eventTime"] = "2025-01-01T00:00:00Z".into();
    std::fs::write(&document, serde_json::to_vec(&value).unwrap()).unwrap();
    let document = document.to_str().unwrap();
    let key = device_key.to_str().unwrap();
    let capture_args = args(&[
        "capture",
        "--url",
        &url,
        "--device",
        "dock-door-1",
        "--key",
        key,
        document,
    ]);
    let first = stdout(&tagtrail(capture_args.clone()).await);
    let expected = stdout(&tagtrail(args(&["epcis", "hash", document])).await);
    let first_lines: Vec<serde_json::Value> = first
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        first_lines[0]["eventHash"].as_str().unwrap(),
        expected.lines().next().unwrap()
    );
    assert_eq!(first_lines[0]["duplicate"], false);
    let again = stdout(&tagtrail(capture_args.clone()).await);
    let again_lines: Vec<serde_json::Value> = again
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(again_lines[0]["leafIndex"], first_lines[0]["leafIndex"]);
    assert_eq!(again_lines[0]["duplicate"], true);

    // Disabled, the device is refused (exit 1, the problem on stderr).
    stdout(
        &tagtrail(args(&[
            "device",
            "disable",
            "--id",
            "dock-door-1",
            "--database-url",
            &database,
        ]))
        .await,
    );
    let refused = tagtrail(capture_args).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("HTTP 401"),
        "{:?}",
        refused
    );
    let listed = stdout(&tagtrail(args(&["device", "list", "--database-url", &database])).await);
    assert!(
        listed.starts_with("dock-door-1\tdemo-site\tdisabled\tkeys=1"),
        "{listed}"
    );

    index_monitor_checks_the_log_through_trace_api(&ingest, &token, &files[0]).await;
    ingest.stop().await;
}

/// `tagtrail index-monitor`, through a trace-api on the ingest's database: once a checkpoint
/// commits to the index, the index is the one the events give. A log it cannot reach and a key
/// that is not one are usage errors.
///
/// A checkpoint signed while the index's heads stayed locked (a loaded machine: the checkpointer
/// waits a second for them, then signs without) commits to none until the index covers its tree
/// and it is signed again: while the monitor says the checkpoint commits to no index, an event is
/// captured now and then (with `token`, from `template`) so that a newer checkpoint is signed.
async fn index_monitor_checks_the_log_through_trace_api(
    ingest: &Ingest,
    token: &str,
    template: &std::path::Path,
) {
    let reader_url = ingest
        .db
        .login_role("tagtrail_reader_cli_test", "tagtrail_reader")
        .await
        .unwrap();
    let mut config = trace_api::Config::new(
        SecretString::from(reader_url),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    config.http.workers = Some(1);
    let app = trace_api::Application::build(config).await.unwrap();
    let trace_url = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    let key = NoteSignerKey::from_seed(KeyName::parse("cli.test/log").unwrap(), &[3; 32])
        .verifier_key()
        .to_string();
    let monitor =
        |url: &str, key: &str| tagtrail(args(&["index-monitor", "--url", url, "--log-key", key]));
    // The captures above may not be under a checkpoint yet (ingest signs one a tick after an
    // append): the monitor of a log with none exits 2 (nothing to read), so wait for the first.
    let checkpoint_url = format!("{trace_url}/log/checkpoint");
    let mut signed = false;
    for _ in 0..300 {
        let url = checkpoint_url.clone();
        let status = tokio::task::spawn_blocking(move || {
            ureq::get(&url)
                .call()
                .map_or_else(|_| 0, |response| response.status().as_u16())
        })
        .await
        .unwrap();
        if status == 200 {
            signed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(signed, "no checkpoint was signed within 30 s");
    // Exit 3 until a checkpoint commits to an index that covers it.
    let mut output = monitor(&trace_url, &key).await;
    for attempt in 1..=300 {
        if output.status.code() != Some(3) {
            break;
        }
        if attempt % 20 == 0 {
            let mut value: serde_json::Value =
                serde_json::from_slice(&std::fs::read(template).unwrap()).unwrap();
            value["epcisBody"]["eventList"][0]["eventTime"] =
                format!("2025-02-01T00:{:02}:00Z", attempt / 20).into();
            let document = ingest.dir.join(format!("grow-{attempt}.json"));
            std::fs::write(&document, serde_json::to_vec(&value).unwrap()).unwrap();
            stdout(
                &tagtrail(args(&[
                    "capture",
                    "--url",
                    &ingest.url,
                    "--token",
                    token,
                    document.to_str().unwrap(),
                ]))
                .await,
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        output = monitor(&trace_url, &key).await;
    }
    let printed = stdout(&output);
    let lines: Vec<&str> = printed.lines().collect();
    assert!(
        lines[0].starts_with("checkpoint of ") && lines[1].starts_with("verifiable index of "),
        "{printed}"
    );
    assert_eq!(
        lines.last(),
        Some(&"valid: the index the checkpoint commits to is the one its entries give"),
        "{printed}"
    );

    // Nobody listens at the first address; the second key is not one.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", unused.local_addr().unwrap());
    drop(unused);
    for (url, key, says) in [
        (nowhere.as_str(), key.as_str(), "Failed to read the log"),
        (trace_url.as_str(), "not-a-key", "Invalid --log-key"),
    ] {
        let output = monitor(url, key).await;
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(says),
            "{output:?}"
        );
    }
    handle.stop(true).await;
    server.await.unwrap().unwrap();
}
