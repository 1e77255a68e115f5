//! The workspace's binaries as child processes, and waiting for what they do.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A workspace binary, built beside this test's executable (`target/<profile>/<name>`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the workspace's tests (`cargo test --workspace` or scripts/test), which build every binary",
        path.display()
    );
    path
}

/// A child process, killed (SIGKILL) when dropped; its standard output collected line by line.
pub struct Process {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Process {
    pub fn spawn(command: &mut Command) -> Process {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Process {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// How many lines written so far contain `text`.
    pub fn logged(&self, text: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(text))
            .count()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// SIGKILL, then every line it wrote.
    pub fn kill(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.finish()
    }

    /// SIGTERM (a graceful stop, as a service manager asks for one), then every line it wrote.
    pub fn terminate(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the process ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.finish()
    }

    fn finish(&mut self) -> Vec<String> {
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty `<system temp>/<name>-<pid>`.
    pub fn new(name: &str) -> TempDir {
        let dir = TempDir(std::env::temp_dir().join(format!("{name}-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&dir.0);
        std::fs::create_dir_all(&dir.0).unwrap();
        dir
    }

    /// A path inside it, as a string (for configuration files and arguments).
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status code of a plain HTTP GET, or `None` when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.get(9..12)?.parse().ok()
}

pub fn tagtrail(args: &[&str]) -> Output {
    let output = Command::new(binary("tagtrail"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tagtrail {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// What an operator sets up before ingest runs, through the `tagtrail` binary: the log's
/// checkpoint key (named `log`) written to `key_path`, and a site owning `location`.
pub fn log_and_site(
    database: &str,
    key_path: &str,
    log: &str,
    (site, name): (&str, &str),
    location: &str,
) {
    tagtrail(&["keygen", "--name", log, "--private-key", key_path]);
    tagtrail(&[
        "site",
        "add",
        "--id",
        site,
        "--name",
        name,
        "--location",
        location,
        "--database-url",
        database,
    ]);
}

/// A gateway's device: its key pair made (`key_path` and `key_path.pub`) and registered at `site`.
pub fn gateway_device(database: &str, key_path: &str, device: &str, site: &str) {
    tagtrail(&["device", "keygen", "--out", key_path]);
    tagtrail(&[
        "device",
        "add",
        "--id",
        device,
        "--site",
        site,
        "--public-key",
        &format!("{key_path}.pub"),
        "--database-url",
        database,
    ]);
}

/// A runtime for a test's own database work.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// How to start the `ingest` binary (again) on one port, database and checkpoint key.
pub struct Ingest {
    pub port: u16,
    pub database_url: String,
    pub checkpoint_key: PathBuf,
}

impl Ingest {
    /// Starts it and waits until it is ready.
    pub fn start(&self) -> Process {
        let process = Process::spawn(
            Command::new(binary("ingest"))
                .args(["--database-url", &self.database_url])
                .args(["--listen", &format!("127.0.0.1:{}", self.port)])
                .arg("--checkpoint-key")
                .arg(&self.checkpoint_key)
                .env("RUST_LOG", "warn,ingest=info"),
        );
        wait_for("ingest to be ready", Duration::from_secs(30), || {
            http_status(self.port, "/health/ready") == Some(200)
        });
        process
    }
}
