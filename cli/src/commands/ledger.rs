//! `tagtrail migrate`, `tagtrail audit`, `tagtrail keygen` and `tagtrail export-log`: administration
//! of the PostgreSQL ledger, of its checkpoint signing key and of its published copy.

use std::fs::OpenOptions;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use alloy_primitives::Address;
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ledger::note::{KeyName, NoteSignerKey};
use zeroize::Zeroizing;

use super::anchor_audit::ChainCheck;

/// Apply the database migrations (sql/V*.sql, embedded in this binary) that have not been applied.
///
/// Forward-only and idempotent: running it again applies nothing. Creates the group roles
/// `tagtrail_ingest` (append and read) and `tagtrail_reader` (read only) if they do not exist.
/// Run it as the database owner, not as a service role.
#[derive(Debug, Args)]
pub struct MigrateCommand {
    /// PostgreSQL URL of the ledger database (postgres://user:password@host:port/database).
    #[arg(
        long,
        env = "TAGTRAIL_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: String,
}

impl MigrateCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        runtime()?.block_on(async {
            let mut client = connect(&self.database_url).await?;
            let report = ledger_store::migrate(&mut client)
                .await
                .context("Failed to migrate the database")?;
            let mut out = std::io::stdout().lock();
            for name in &report.repaired {
                writeln!(
                    out,
                    "re-stamped {name} (applied with an earlier text of it; V7 updates its schema)"
                )?;
            }
            if report.applied.is_empty() {
                writeln!(out, "up to date ({} migrations)", report.known)?;
            }
            for name in &report.applied {
                writeln!(out, "applied {name}")?;
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

/// Write the log as static files in the C2SP tlog-tiles layout, to publish it from any web server
/// or object store.
///
/// Writes `checkpoint`, `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]` under DIR, byte for
/// byte what trace-api serves under /log/, as of the newest signed checkpoint. Tiles go first and
/// the checkpoint last, each file through a temporary name, so a server never publishes a
/// checkpoint whose tiles are missing. Existing files are kept (a tile at a given width never
/// changes): run it again, e.g. every minute, to publish what the log grew by. Serve full tiles
/// with `Cache-Control: public, max-age=604800, immutable` and `checkpoint` with `no-cache`.
#[derive(Debug, Args)]
pub struct ExportLogCommand {
    /// PostgreSQL URL of the ledger database (a role in tagtrail_reader is enough).
    #[arg(
        long,
        env = "TAGTRAIL_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: String,
    /// The directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

impl ExportLogCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        runtime()?.block_on(async {
            let store = ledger_store::Writer::connect(&self.database_url)
                .context("Invalid --database-url")?;
            let report = store
                .export_files(&self.dir)
                .await
                .context("Failed to export the log")?;
            writeln!(
                std::io::stdout().lock(),
                "exported the log at {} entries to {}: {} tiles and {} entry bundles written, {} files already there",
                report.size,
                self.dir.display(),
                report.tiles,
                report.bundles,
                report.kept
            )?;
            Ok(ExitCode::SUCCESS)
        })
    }
}

/// Re-verify the whole ledger from the database rows.
///
/// Recomputes every event's CBV 2.0 hash from the stored JSON, decodes every leaf record and
/// checks it against its event and device batch, verifies every device batch's signature under
/// the keys the registry holds for its device (batches of devices it holds no key for are
/// counted, not checked), rebuilds every tile of the Merkle tree and
/// compares the stored ones, recomputes the root at every checkpoint, verifies every checkpoint
/// signature against the stored signing keys and a consistency proof between consecutive
/// checkpoints. Exits 0 when everything holds; otherwise prints the first bad entry (or tile,
/// batch, checkpoint) and what is wrong with it, and exits 1. Safe to run while the log is being
/// appended to: it audits one consistent snapshot.
///
/// With --rpc it then proves the stored log consistent with every checkpoint of it anchored on that
/// chain, read from the chain itself (`eth_getLogs` by the log's origin), not from the database: the
/// log must still reach each anchored tree size and have the anchored root there, which catches a
/// tail deleted back to an earlier checkpoint or a rewritten history. Only anchors signed by one of
/// the log's keys count; others are listed as ignored (anyone can emit events). One line per
/// anchor, then the verdict as the last line (exit 1 when an anchored checkpoint does not hold).
#[derive(Debug, Args)]
pub struct AuditCommand {
    /// PostgreSQL URL of the ledger database (a read-only role such as a member of
    /// tagtrail_reader is enough).
    #[arg(
        long,
        env = "TAGTRAIL_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: String,
    /// Do not recompute event hashes from the stored event JSON (much faster; everything else is
    /// still checked, but a changed event field goes unnoticed).
    #[arg(long)]
    skip_event_hashes: bool,
    /// Threads recomputing event hashes, besides the one rebuilding the tree. Default: one per CPU.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Also check the log against its anchors on the chain behind this JSON-RPC URL (http:// or
    /// https://; only its scheme and host are ever printed).
    #[arg(long = "rpc", value_name = "URL")]
    rpc: Option<String>,
    /// With --rpc: only the anchors emitted by this contract (0x and 40 hex digits). Default: any
    /// contract (an anchor counts by its signature, not by who emitted it).
    #[arg(long, value_name = "ADDR", requires = "rpc")]
    contract: Option<Address>,
    /// With --rpc: the first block searched (on a public chain, the anchor contract's deployment
    /// block saves the node work). Default: 0.
    #[arg(long, value_name = "N", requires = "rpc")]
    from_block: Option<u64>,
    /// With --rpc: the log's origin. Default: the first line of its stored checkpoints.
    #[arg(long, value_name = "ORIGIN", requires = "rpc")]
    origin: Option<String>,
    /// With --rpc: the log's checkpoint verifier key as published (`<name>+<key id>+<base64 key>`,
    /// or a file holding it; repeat it for several). Default: the keys in the database's
    /// signing_keys table, which whoever can rewrite the log can rewrite too.
    #[arg(long = "log-key", value_name = "KEY", requires = "rpc")]
    log_keys: Vec<String>,
}

impl AuditCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let defaults = ledger_store::AuditOptions::default();
        let options = ledger_store::AuditOptions {
            recompute_event_hashes: !self.skip_event_hashes,
            hashing_threads: self.threads.unwrap_or(defaults.hashing_threads),
        };
        let chain = self
            .rpc
            .as_deref()
            .map(|url| {
                ChainCheck::connect(
                    url,
                    self.contract,
                    self.from_block.unwrap_or(0),
                    self.origin.as_deref(),
                    &self.log_keys,
                )
            })
            .transpose()?;
        let progress = Arc::new(Progress::new());
        let started = Instant::now();
        let runtime = runtime()?;
        let store = ledger_store::Writer::connect_with_pool_size(
            &self.database_url,
            ledger_store::AUDIT_CONNECTIONS,
        )
        .context("Invalid --database-url")?;
        let (report, index) = runtime.block_on(async {
            let device_keys = registry::device_keys_in;
            let report = ledger_store::audit(&store, options, device_keys, progress.clone())
                .await
                .context("Failed to audit the ledger")?;
            let index = ledger_store::Indexer::new(&store)
                .audit_index()
                .await
                .context("Failed to audit the verifiable index")?;
            anyhow::Ok((report, index))
        })?;
        progress.finish();
        let elapsed = started.elapsed().as_secs_f64();
        let mut out = std::io::stdout().lock();
        match &report.problem {
            None => {
                let rate = if elapsed > 0.0 {
                    report.entries as f64 / elapsed
                } else {
                    0.0
                };
                writeln!(
                    out,
                    "ok: {} entries, {} tiles, {} device batches ({} signatures verified against the registry, {} by devices it holds no key for), {} checkpoints verified{} in {elapsed:.2} s ({rate:.0} entries/s)",
                    report.entries,
                    report.tiles,
                    report.device_batches,
                    report.device_signatures_verified,
                    report.unregistered_device_batches,
                    report.checkpoints,
                    if report.event_hashes_recomputed {
                        ", event hashes and bytes recomputed"
                    } else {
                        ", event hashes NOT recomputed (--skip-event-hashes)"
                    },
                )?;
                writeln!(
                    out,
                    "   {} error declarations checked against the entries they declare",
                    report.error_declarations
                )?;
                if let Some(problem) = &index.problem {
                    writeln!(out, "FAILED: {problem}")?;
                    return Ok(ExitCode::from(1));
                }
                writeln!(
                    out,
                    "   verifiable index: {} runs over {} entries, {} pairs recomputed from the events",
                    index.runs, index.entries, index.pairs
                )?;
                if report.version_1_entries > 0 {
                    writeln!(
                        out,
                        "note: {} entries carry version 1 leaf records, which bind the CBV 2.0 \
                         hash only: an edit of what it leaves out (eventID, errorDeclaration, \
                         the zone of a time, the JSON's spelling) is not detectable for them",
                        report.version_1_entries
                    )?;
                }
                let Some(chain) = chain else {
                    return Ok(ExitCode::SUCCESS);
                };
                out.flush()?;
                match chain.run(&runtime, &store, report.entries, &mut out)? {
                    Ok(verdict) => {
                        writeln!(out, "{verdict}")?;
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(failure) => {
                        writeln!(out, "FAILED: {failure}")?;
                        Ok(ExitCode::from(1))
                    }
                }
            }
            Some(problem) => {
                writeln!(out, "FAILED: {problem}")?;
                Ok(ExitCode::from(1))
            }
        }
    }
}

/// Audit progress: a bar on a terminal, otherwise a line on stderr every tenth of the way.
struct Progress {
    bar: Option<ProgressBar>,
    total: AtomicU64,
    reported_tenths: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} entries ({per_sec}, {eta} left)",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            bar,
            total: AtomicU64::new(0),
            reported_tenths: AtomicU64::new(0),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl ledger_store::AuditProgress for Progress {
    fn started(&self, entries: u64) {
        self.total.store(entries, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(entries);
        }
    }

    fn advanced(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        let total = self.total.load(Ordering::Relaxed).max(1);
        let tenths = done.saturating_mul(10) / total;
        if tenths > self.reported_tenths.fetch_max(tenths, Ordering::Relaxed) {
            // The command's progress report goes to stderr, away from the verdict on stdout.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("audited {done} of {total} entries");
            }
        }
    }
}

/// Generate an Ed25519 key pair for signing the log's checkpoints (C2SP signed notes).
///
/// Writes the private key (`PRIVATE+KEY+<name>+<id>+<base64>`) to a new file readable only by
/// its owner (mode 0600), and the public verifier key (`<name>+<id>+<base64>`) to a second file
/// and to standard output. Publish the verifier key; keep the private key secret. Existing files
/// are never overwritten. To rotate a log's key, make the new one with the same name (the log's
/// origin): docs/OPERATIONS.md, "Checkpoint key rotation".
#[derive(Debug, Args)]
pub struct KeygenCommand {
    /// The key name: by convention the log's origin, a schema-less URL such as
    /// `tagtrail.example.com/log`. No spaces and no `+`.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// Where to write the private key (created with mode 0600; must not exist).
    #[arg(long, value_name = "FILE", default_value = "checkpoint-signer.key")]
    private_key: PathBuf,
    /// Where to write the public verifier key (must not exist). Default: the private key's path
    /// with `.pub` appended.
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
}

impl KeygenCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let name = KeyName::parse(&self.name).context("Invalid --name")?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice())
            .map_err(|error| anyhow::anyhow!("{error}"))
            .context("Failed to read random bytes from the operating system")?;
        let signer = NoteSignerKey::from_seed(name, &seed);
        let verifier = signer.verifier_key().to_string();
        let private_text = Zeroizing::new(format!("{}\n", signer.to_private_text().as_str()));
        write_key_pair(
            &self.private_key,
            private_text.as_bytes(),
            self.public_key.as_deref(),
            format!("{verifier}\n").as_bytes(),
        )?;
        writeln!(std::io::stdout().lock(), "{verifier}")?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Writes a key pair's files: the private key to `private` (mode 0600) and the public key to
/// `public` (default: `private` with `.pub` appended; mode 0644). Neither may exist: the public
/// path is checked before the private key is written, so a refusal writes nothing.
pub(crate) fn write_key_pair(
    private: &Path,
    private_text: &[u8],
    public: Option<&Path>,
    public_text: &[u8],
) -> anyhow::Result<()> {
    let public = public.map_or_else(
        || {
            let mut name = private.as_os_str().to_owned();
            name.push(".pub");
            PathBuf::from(name)
        },
        Path::to_path_buf,
    );
    if public.exists() {
        anyhow::bail!("{} already exists; not overwriting it", public.display());
    }
    write_new_file(private, private_text, 0o600)
        .with_context(|| format!("Failed to write the private key to {}", private.display()))?;
    write_new_file(&public, public_text, 0o644)
        .with_context(|| format!("Failed to write the public key to {}", public.display()))
}

/// Creates `path` (failing if it exists) with `mode` from the start, so that the content is never
/// readable by others, and writes `content` durably (the private key files of `keygen` and
/// `device keygen`).
pub(crate) fn write_new_file(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// The command's runtime: two worker threads are plenty for one connection and one hashing task.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("Failed to start the async runtime")
}

/// One connection (no TLS), driven on the runtime.
async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("Failed to connect to the database")?;
    tokio::spawn(async move {
        // Errors of the connection surface on the client's calls.
        let _ = connection.await;
    });
    Ok(client)
}
