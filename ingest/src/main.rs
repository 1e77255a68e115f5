//! The `ingest` service: the EPCIS 2.0 capture interface in front of the ledger.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use ingest::Application;
use ingest::config::{Config, LogFormat, Overrides};
use secrecy::SecretString;
use service_kit::config::CommonFlags;

/// jemalloc instead of glibc's malloc: the capture path allocates and frees many small objects per
/// event on several threads and a large buffer per request, which glibc's allocator served at
/// about 16 % of the machine's CPU under load (BENCHMARKS.md, "Ingest").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// tagtrail ingest: accepts EPCIS 2.0 capture documents from devices (signed batch statements)
/// and EPCIS clients (site API tokens), validates and hashes every event, appends it to the
/// ledger and answers with receipts.
///
/// Settings come from the config file (--config), then TAGTRAIL_INGEST_<SECTION>_<KEY>
/// environment variables, then these flags. Without a config file, --database-url and
/// --checkpoint-key are required.
#[derive(Debug, Parser)]
#[command(name = "ingest", version, about, long_about)]
struct Args {
    /// The TOML config file (see ingest/ingest.example.toml).
    #[arg(long, env = "TAGTRAIL_INGEST_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// PostgreSQL URL of the ledger database (postgres://user:password@host:port/database);
    /// connect as a login role that is a member of tagtrail_ingest.
    #[arg(
        long,
        env = "TAGTRAIL_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// The address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The checkpoint signing key written by `tagtrail keygen` (PRIVATE+KEY+...). The newest
    /// checkpoint published is kept next to it, in FILE.published, unless
    /// [ledger] published_checkpoint_file says otherwise: ingest refuses to sign while the database
    /// does not hold that checkpoint's tree (a restored old backup).
    #[arg(long, value_name = "FILE")]
    checkpoint_key: Option<PathBuf>,
    /// During a rotation of the checkpoint key: another key (from `tagtrail keygen --name` with
    /// the same name as --checkpoint-key) that signs every checkpoint too, after the primary key.
    /// Repeat it for several; given, it replaces [ledger] additional_checkpoint_key_files.
    /// See docs/OPERATIONS.md, "Checkpoint key rotation".
    #[arg(long = "additional-checkpoint-key", value_name = "FILE")]
    additional_checkpoint_keys: Vec<PathBuf>,
    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT", value_parser = LogFormat::parse)]
    log_format: Option<LogFormat>,
}

fn main() -> ExitCode {
    service_kit::shutdown::exit_code("ingest", run())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let overrides = Overrides {
        common: CommonFlags {
            database_url: args.database_url.map(SecretString::from),
            listen: args.listen,
            log_format: args.log_format,
        },
        checkpoint_key_file: args.checkpoint_key,
        additional_checkpoint_key_files: args.additional_checkpoint_keys,
    };
    let config = Config::load(args.config.as_deref(), std::env::vars(), overrides)
        .context("Failed to load the settings")?;
    ingest::telemetry::init(&config.log).map_err(anyhow::Error::msg)?;
    service_kit::http::run_until_signalled(Application::build(config))
}
