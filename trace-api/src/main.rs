//! The `trace-api` service: custody histories with proofs, proof bundles and the log's tiles.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use secrecy::SecretString;
use trace_api::Application;
use trace_api::config::{Config, LogFormat, Overrides};

/// jemalloc instead of glibc's malloc, as in ingest: every answer allocates and frees many small
/// JSON values on several threads, and glibc's allocator took about a tenth of the service's CPU
/// under load (BENCHMARKS.md, "trace-api").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// tagtrail trace-api: reads the ledger back with its proofs. Custody histories of items (through
/// the containers they travelled in), single-event and provenance proof bundles, and the C2SP
/// tlog-tiles endpoints for log monitors. It only reads: give it a role in tagtrail_reader, on the
/// primary or on a streaming replica.
///
/// Settings come from the config file (--config), then TAGTRAIL_TRACE_<SECTION>_<KEY>
/// environment variables, then these flags. Without a config file, --database-url is required.
#[derive(Debug, Parser)]
#[command(name = "trace-api", version, about, long_about)]
struct Args {
    /// The TOML config file (see trace-api/trace-api.example.toml).
    #[arg(long, env = "TAGTRAIL_TRACE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// PostgreSQL URL of the ledger database (postgres://user:password@host:port/database), as a
    /// login role in tagtrail_reader.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The address to listen on, e.g. 127.0.0.1:8090 (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT", value_parser = LogFormat::parse)]
    log_format: Option<LogFormat>,
}

fn main() -> ExitCode {
    service_kit::shutdown::exit_code("trace-api", run())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let overrides = Overrides {
        database_url: args.database_url.map(SecretString::from),
        listen: args.listen,
        log_format: args.log_format,
    };
    let config = Config::load(args.config.as_deref(), std::env::vars(), overrides)
        .context("Failed to load the settings")?;
    service_kit::log::init(&config.log).map_err(anyhow::Error::msg)?;
    service_kit::http::run_until_signalled(Application::build(config))
}
