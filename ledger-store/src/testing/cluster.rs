//! [`PrivateCluster`]: a PostgreSQL cluster of one test's own, for what a test must not do to the
//! shared server: restart it, or replicate from it.
//!
//! The server binaries are Debian's: `initdb`, `pg_ctl` and `pg_basebackup` from the newest
//! `/usr/lib/postgresql/<version>/bin`, where Debian's `postgresql` package (which
//! `scripts/services` installs) puts them. `initdb` refuses to run as root: run as root, every tool runs as the
//! `postgres` OS user, which then owns the cluster's directory.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian installs each PostgreSQL version's server binaries, one directory per version.
const DEBIAN_VERSIONS: &str = "/usr/lib/postgresql";

/// The tools a private cluster runs, all from one version's `bin`.
const TOOLS: [&str; 3] = ["initdb", "pg_ctl", "pg_basebackup"];

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A PostgreSQL cluster listening on 127.0.0.1 at a port of its own, in a temporary directory:
/// stopped (immediate shutdown) and its directory removed on drop. Its superuser is
/// [`SUPERUSER`](Self::SUPERUSER), trusted without a password on 127.0.0.1 (any role's password
/// is accepted unchecked).
///
/// A primary ([`start`](Self::start)) is ready to stream to replicas (`wal_level=replica`, WAL
/// senders, replication connections from 127.0.0.1); a replica
/// ([`start_replica`](Self::start_replica)) is a hot standby that streams from it.
///
/// Its methods block (they run the server's tools): in async code, call them through
/// `tokio::task::spawn_blocking` or `block_in_place`.
#[derive(Debug)]
pub struct PrivateCluster {
    bin: PathBuf,
    /// The temporary directory: the data directory, the socket and the server log.
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    /// Whether the tools run as the `postgres` OS user (when this process is root).
    as_postgres: bool,
}

/// Why a private cluster could not be started or controlled.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL server binaries ({}) in {DEBIAN_VERSIONS}/<version>/bin: install Debian's postgresql package (scripts/services does)",
        TOOLS.join(", ")
    )]
    NoBinaries,
    #[error("failed to {0}")]
    Io(&'static str, #[source] std::io::Error),
    #[error(
        "running as root, a private cluster needs the `postgres` OS user to own it: chown {0} failed"
    )]
    NoPostgresUser(String),
    #[error("{command} failed: {output}")]
    Tool { command: String, output: String },
}

impl PrivateCluster {
    /// The superuser every private cluster has (trusted on 127.0.0.1, no password).
    pub const SUPERUSER: &str = "tagtrail";

    /// Creates a cluster (`initdb`) and starts it as a primary on a free port.
    pub fn start() -> Result<Self, ClusterError> {
        let bin = server_binaries()?;
        let as_postgres = is_root();
        let cluster = Self::in_new_directory(bin, as_postgres)?;
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data.to_string_lossy(),
                "-U",
                Self::SUPERUSER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        // initdb's default pg_hba.conf has this line too; a replica must not depend on that.
        let hba = cluster.data.join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba)
            .map_err(|error| ClusterError::Io("read pg_hba.conf", error))?;
        rules.push_str("\nhost replication all 127.0.0.1/32 trust\n");
        std::fs::write(&hba, rules)
            .map_err(|error| ClusterError::Io("write pg_hba.conf", error))?;
        cluster.pg_ctl(&["start", "-w", "-t", "60"])?;
        Ok(cluster)
    }

    /// Starts a streaming replica of this cluster on another free port: a base backup
    /// (`pg_basebackup -R`, which makes it a standby streaming from this cluster) into a new data
    /// directory, started as a hot standby.
    pub fn start_replica(&self) -> Result<Self, ClusterError> {
        let replica = Self::in_new_directory(self.bin.clone(), self.as_postgres)?;
        replica.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                Self::SUPERUSER,
                "-D",
                &replica.data.to_string_lossy(),
                "--write-recovery-conf",
                "--wal-method=stream",
                "--checkpoint=fast",
                "--no-sync",
            ],
        )?;
        replica.pg_ctl(&["start", "-w", "-t", "60"])?;
        Ok(replica)
    }

    /// A URL of database `database` on this cluster, logging in as `user`.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Runs `pg_ctl` on this cluster with `args` (for example `["stop", "-m", "fast"]` or
    /// `["start", "-w", "-t", "60"]`); the server it starts keeps this cluster's port, socket
    /// directory, replication settings and log file.
    pub fn pg_ctl(&self, args: &[&str]) -> Result<(), ClusterError> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=on \
             -c wal_level=replica -c max_wal_senders=4 -c hot_standby=on",
            self.port,
            self.dir.display()
        );
        let data = self.data.to_string_lossy();
        let log = self.dir.join("postgres.log");
        let log = log.to_string_lossy();
        let mut all = vec!["-D", &data, "-o", &options, "-l", &log];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all).map_err(|error| match error {
            // The server's log says why it did not start or stop; it goes with the directory.
            ClusterError::Tool { command, output } => ClusterError::Tool {
                command,
                output: format!("{output}\nserver log:\n{}", self.log_tail()),
            },
            other => other,
        })
    }

    /// The last lines of the server's log.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A cluster not created yet: a new temporary directory (owned by the `postgres` OS user when
    /// `as_postgres`) and a free port.
    fn in_new_directory(bin: PathBuf, as_postgres: bool) -> Result<Self, ClusterError> {
        let dir = std::env::temp_dir().join(format!(
            "tagtrail-cluster-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|error| ClusterError::Io("create the cluster's directory", error))?;
        let port = free_port()?;
        // From here on, dropping the cluster removes the directory.
        let cluster = Self {
            bin,
            data: dir.join("data"),
            dir,
            port,
            as_postgres,
        };
        if as_postgres {
            let owned = Command::new("chown")
                .args(["postgres:postgres", &cluster.dir.to_string_lossy()])
                .status()
                .is_ok_and(|status| status.success());
            if !owned {
                return Err(ClusterError::NoPostgresUser(
                    cluster.dir.display().to_string(),
                ));
            }
        }
        Ok(cluster)
    }

    /// Runs one of the server's tools, as the `postgres` OS user when `as_postgres`.
    fn run(&self, tool: &str, args: &[&str]) -> Result<(), ClusterError> {
        let output = self
            .command(tool, args)
            .output()
            .map_err(|error| ClusterError::Io("run a PostgreSQL tool", error))?;
        if output.status.success() {
            return Ok(());
        }
        Err(ClusterError::Tool {
            command: format!("{tool} {}", args.join(" ")),
            output: both_streams(&output),
        })
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let program = self.bin.join(tool);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(program)
                .args(args)
                // The postgres user may not be allowed into this process's working directory.
                .current_dir("/");
            command
        } else {
            let mut command = Command::new(program);
            command.args(args);
            command
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // Best effort: a server still running would only hold a port until the machine restarts,
        // and a directory left behind only costs disk.
        if self.data.join("postmaster.pid").exists() {
            let data = self.data.to_string_lossy().into_owned();
            let _ = self
                .command("pg_ctl", &["-D", &data, "stop", "-m", "immediate", "-w"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `bin` directory of the newest PostgreSQL version that has every tool in [`TOOLS`].
fn server_binaries() -> Result<PathBuf, ClusterError> {
    let versions = std::fs::read_dir(DEBIAN_VERSIONS).map_err(|_| ClusterError::NoBinaries)?;
    versions
        .flatten()
        .filter_map(|entry| {
            let version = version(&entry.file_name().to_string_lossy())?;
            let bin = entry.path().join("bin");
            TOOLS
                .iter()
                .all(|tool| bin.join(tool).exists())
                .then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
        .ok_or(ClusterError::NoBinaries)
}

/// The version a directory of [`DEBIAN_VERSIONS`] is named after (`15`, or `9.6` before version
/// 10), comparable as numbers; `None` for other names.
fn version(name: &str) -> Option<(u32, u32)> {
    let (major, minor) = name.split_once('.').unwrap_or((name, "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whether this process runs as root (whose clusters the `postgres` OS user must own).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout == b"0\n")
}

/// A port no one listens on now, on 127.0.0.1 (another process may take it before the cluster
/// does; unlikely, and then starting the cluster fails saying so).
fn free_port() -> Result<u16, ClusterError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| ClusterError::Io("find a free port", error))
}

fn both_streams(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version("15") > version("9.6"));
        assert!(version("16") > version("15"));
        assert_eq!(version("9.6"), Some((9, 6)));
        assert_eq!(version("common"), None);
    }
}
