//! Uploads over HTTPS: the stand-in ingest of `tests/upload.rs` behind a real TLS terminator
//! (`socat OPENSSL-LISTEN`), with a throw-away CA and server certificates made by the `openssl`
//! command for each test (`scripts/services` installs both tools on a fresh machine). The
//! uploader must trust the server only through `[upload] ca_file`, refuse an unknown CA and a
//! certificate for another host, and keep the events in the spool when it refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use crate::common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Ingest, SEED, spool_in, start_ingest};
use firmware_bridge::config::UploadConfig;
use firmware_bridge::spool::Spool;
use firmware_bridge::uploader::{CaFileError, UploadError, UploadOutcome, Uploader};
use ledger::batch::DeviceSigningKey;
use ledger::{DeviceId, UnixMillis};

/// A directory of the system's temporary directory, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("tagtrail-upload-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is installed (scripts/services installs it)");
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed CA (`<name>.pem`, `<name>.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=tagtrail test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A server certificate (`<name>.pem`, `<name>.key`) for `subject_alt_name`, signed by the CA
/// `ca`.
fn make_server_cert(dir: &Path, ca: &str, name: &str, subject_alt_name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=tagtrail test ingest",
        ],
    );
    let extensions = format!(
        "subjectAltName={subject_alt_name}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    );
    std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// `socat` terminating TLS with a certificate and forwarding to a plain TCP backend; killed on
/// drop.
struct Terminator {
    child: Child,
    port: u16,
}

impl Terminator {
    fn start(dir: &Path, cert: &str, backend: std::net::SocketAddr) -> Self {
        // A port that was free a moment ago; socat fails loudly below if it was taken since.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            dir.join(format!("{cert}.pem")).display(),
            dir.join(format!("{cert}.key")).display(),
        );
        let child = Command::new("socat")
            .arg(listen)
            .arg(format!("TCP:{backend}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat is installed (scripts/services installs it)");
        let mut terminator = Terminator { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = terminator.child.try_wait().unwrap() {
                panic!("socat exited with {status} before listening on {port}");
            }
            assert!(
                Instant::now() < deadline,
                "socat did not listen on {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        terminator
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/capture", self.port)
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA, a server certificate from it for `subject_alt_name`, the stand-in ingest behind a TLS
/// terminator with that certificate, and a spool of `events` events.
struct Site {
    // Dropped in this order: socat first, the directory last.
    terminator: Terminator,
    spool: Spool,
    ingest: Ingest,
    dir: TempDir,
}

impl Site {
    fn start(name: &str, subject_alt_name: &str, events: u32) -> Self {
        let dir = TempDir::new(name);
        make_ca(&dir.0, "ca");
        make_server_cert(&dir.0, "ca", "server", subject_alt_name);
        let ingest = start_ingest(&DeviceSigningKey::from_seed(&SEED), vec![]);
        let terminator = Terminator::start(&dir.0, "server", ingest.addr);
        let spool = spool_in(&dir.0, events);
        Site {
            terminator,
            spool,
            ingest,
            dir,
        }
    }

    fn uploader(&self, ca_file: Option<PathBuf>) -> Result<Uploader, CaFileError> {
        let config = UploadConfig {
            url: self.terminator.url(),
            ca_file,
            batch_size: 10,
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(60),
        };
        Uploader::from_config(
            &config,
            DeviceId::parse("urn:tagtrail:device:test").unwrap(),
            DeviceSigningKey::from_seed(&SEED),
            Duration::from_secs(5),
        )
    }

    fn upload_once(&mut self, uploader: &Uploader) -> Result<UploadOutcome, UploadError> {
        uploader.upload_once(&mut self.spool, UnixMillis::from_millis(1_000))
    }
}

#[test]
fn events_are_uploaded_over_https_to_a_server_of_the_configured_ca() {
    let mut site = Site::start("trusted", "IP:127.0.0.1,DNS:localhost", 15);
    let uploader = site.uploader(Some(site.dir.join("ca.pem"))).unwrap();
    assert_eq!(
        site.upload_once(&uploader).unwrap(),
        UploadOutcome::Uploaded { events: 10 }
    );
    assert_eq!(
        site.upload_once(&uploader).unwrap(),
        UploadOutcome::Uploaded { events: 5 }
    );
    assert_eq!(site.upload_once(&uploader).unwrap(), UploadOutcome::Idle);
    assert_eq!(site.spool.depth(), 0, "receipts came back for every event");
    assert_eq!(site.ingest.ledger.lock().unwrap().len(), 15);
    assert_eq!(site.ingest.requests.load(Ordering::SeqCst), 2);
}

#[test]
fn a_server_of_an_unknown_ca_is_refused_and_the_events_stay_spooled() {
    let mut site = Site::start("untrusted", "IP:127.0.0.1,DNS:localhost", 3);
    let uploader = site.uploader(None).unwrap();
    let error = site.upload_once(&uploader).unwrap_err();
    assert!(
        matches!(&error, UploadError::Tls(reason) if reason.contains("UnknownIssuer")),
        "{error}"
    );
    assert!(error.is_retryable(), "{error}");
    assert_eq!(site.spool.depth(), 3);
    assert_eq!(site.spool.quarantined().unwrap(), 0);
    assert_eq!(site.ingest.requests.load(Ordering::SeqCst), 0);
    assert!(site.ingest.ledger.lock().unwrap().is_empty());

    // Once the operator configures the site's CA, the same events go through.
    let trusting = site.uploader(Some(site.dir.join("ca.pem"))).unwrap();
    assert_eq!(
        site.upload_once(&trusting).unwrap(),
        UploadOutcome::Uploaded { events: 3 }
    );
    assert_eq!(site.spool.depth(), 0);
}

#[test]
fn a_certificate_for_another_host_is_refused_even_from_the_configured_ca() {
    let mut site = Site::start("wrong-host", "DNS:ingest.example.invalid", 3);
    let uploader = site.uploader(Some(site.dir.join("ca.pem"))).unwrap();
    let error = site.upload_once(&uploader).unwrap_err();
    assert!(
        matches!(&error, UploadError::Tls(reason) if reason.contains("not valid for name")),
        "{error}"
    );
    assert_eq!(site.spool.depth(), 3);
    assert_eq!(site.ingest.requests.load(Ordering::SeqCst), 0);
    assert!(site.ingest.ledger.lock().unwrap().is_empty());
}

#[test]
fn another_ca_in_the_ca_file_does_not_vouch_for_the_server() {
    let mut site = Site::start("other-ca", "IP:127.0.0.1", 2);
    make_ca(&site.dir.0, "other");
    let uploader = site.uploader(Some(site.dir.join("other.pem"))).unwrap();
    let error = site.upload_once(&uploader).unwrap_err();
    assert!(
        matches!(&error, UploadError::Tls(reason) if reason.contains("UnknownIssuer")),
        "{error}"
    );
    assert_eq!(site.spool.depth(), 2);
    assert_eq!(site.ingest.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn an_unusable_ca_file_is_a_start_up_error_naming_the_file() {
    let dir = TempDir::new("ca-files");
    make_ca(&dir.0, "ca");
    let config = |ca_file: PathBuf| UploadConfig {
        url: "https://127.0.0.1:9/capture".to_owned(),
        ca_file: Some(ca_file),
        batch_size: 10,
        retry_min: Duration::from_millis(200),
        retry_max: Duration::from_secs(60),
    };
    let build = |ca_file: &PathBuf| {
        Uploader::from_config(
            &config(ca_file.clone()),
            DeviceId::parse("urn:tagtrail:device:test").unwrap(),
            DeviceSigningKey::from_seed(&SEED),
            Duration::from_secs(5),
        )
    };
    let bundle = dir.join("bundle.pem");
    make_ca(&dir.0, "second");
    let both = [
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
        std::fs::read_to_string(dir.join("second.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(&bundle, both).unwrap();
    assert!(build(&bundle).is_ok(), "a bundle of two CAs is accepted");

    let missing = dir.join("missing.pem");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "# no certificates here\n").unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let with_key = dir.join("with-key.pem");
    let key_and_cert = [
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
        std::fs::read_to_string(dir.join("ca.key")).unwrap(),
    ]
    .concat();
    std::fs::write(&with_key, key_and_cert).unwrap();

    for (path, expected) in [
        (&missing, "failed to read the CA file"),
        (&empty, "holds no certificate"),
        (&garbage, "certificate 1 is not a usable X.509 certificate"),
        (&with_key, "holds a private key"),
    ] {
        let error = build(path).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&path.display().to_string()) && message.contains(expected),
            "{message}"
        );
    }
    assert!(matches!(
        build(&missing).unwrap_err(),
        CaFileError::Read { .. }
    ));
}

#[test]
fn the_bridge_does_not_start_with_an_unusable_ca_file() {
    let dir = TempDir::new("startup-ca");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let text = format!(
        r#"
[device]
id = "urn:tagtrail:device:test"
key_file = "unused"

[spool]
path = "{spool}"

[upload]
url = "https://127.0.0.1:9/capture"
ca_file = "{ca}"
"#,
        spool = dir.join("spool.sqlite").display(),
        ca = garbage.display(),
    );
    let config = firmware_bridge::config::Config::from_toml(&text).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    // Not cancelled: only a start-up error can end this call.
    let error = runtime
        .block_on(firmware_bridge::startup::run(
            config,
            DeviceSigningKey::from_seed(&SEED),
            cancel,
        ))
        .unwrap_err();
    assert!(
        matches!(error, firmware_bridge::startup::StartError::CaFile(_)),
        "{error}"
    );
    assert!(error.to_string().contains("garbage.pem"), "{error}");
}
