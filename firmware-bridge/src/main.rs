//! `firmware-bridge`: the edge service (`run`) and the reader simulator (`simulate`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use firmware_bridge::config::Config;
use firmware_bridge::serial::SimulatedJrdModule;
use firmware_bridge::simulator::{TagPopulation, portal_pass};
use tokio_serial::SerialPort as _;
use tokio_util::sync::CancellationToken;

/// Turns RFID reads and sensor readings into device-signed EPCIS 2.0 events, spooled on disk
/// until ingest has accepted them.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bridge with a configuration file (see bridge.example.toml); any
    /// `TAGTRAIL_BRIDGE_<SECTION>_<KEY>` environment variable overrides that key of the file.
    Run {
        /// The TOML configuration file.
        #[arg(long, env = "TAGTRAIL_BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Act as a JRD-4035 serial module on a pseudo-terminal, streaming a population of SGTIN-96
    /// tags passing through its field; point a `kind = "jrd"` reader's `port` at `--link`.
    Simulate {
        /// Where to create a symbolic link to the pseudo-terminal (the "serial port").
        #[arg(long)]
        link: PathBuf,
        /// Number of tags in the population.
        #[arg(long, default_value_t = 1_700)]
        tags: usize,
        /// First serial number of the population.
        #[arg(long, default_value_t = 1)]
        first_serial: u64,
        /// Length of one pass through the field, in milliseconds (the pass repeats).
        #[arg(long, default_value_t = 3_000)]
        pass_ms: u64,
        /// Notices per tag per pass.
        #[arg(long, default_value_t = 4)]
        reads_per_tag: usize,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .json()
        .flatten_event(true)
        .try_init()
        .map_err(|error| anyhow::anyhow!("Failed to install the log subscriber: {error}"))?;
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("Failed to start the tokio runtime")?;
    runtime.block_on(async move {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("shutting down");
            }
            on_signal.cancel();
        });
        match cli.command {
            Command::Run { config } => run(config, cancel).await,
            Command::Simulate {
                link,
                tags,
                first_serial,
                pass_ms,
                reads_per_tag,
            } => simulate(link, tags, first_serial, pass_ms, reads_per_tag, cancel).await,
        }
    })
}

async fn run(path: PathBuf, cancel: CancellationToken) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("Failed to read the configuration {}", path.display()))?;
    let config = Config::load(&text, std::env::vars())
        .with_context(|| format!("Failed to load the configuration {}", path.display()))?;
    let key_text = std::fs::read_to_string(&config.device_key_file).with_context(|| {
        format!(
            "Failed to read the device key {}",
            config.device_key_file.display()
        )
    })?;
    let key = firmware_bridge::uploader::parse_device_key(&key_text)
        .context("Failed to parse the device key")?;
    tracing::info!(device = %config.device, readers = config.readers.len(), "bridge starting");
    firmware_bridge::startup::run(config, key, cancel)
        .await
        .context("Failed to run the bridge")
}

async fn simulate(
    link: PathBuf,
    tags: usize,
    first_serial: u64,
    pass_ms: u64,
    reads_per_tag: usize,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let (master, slave) =
        tokio_serial::SerialStream::pair().context("Failed to open a pseudo-terminal")?;
    let name = slave.name().context("Failed to name the pseudo-terminal")?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&name, &link)
        .with_context(|| format!("Failed to link {} to {name}", link.display()))?;
    tracing::info!(link = %link.display(), pty = %name, tags, "simulated JRD module ready");
    let population = TagPopulation::sgtin96(tags, first_serial);
    let module = SimulatedJrdModule::new(
        portal_pass(&population, pass_ms, reads_per_tag, first_serial),
        pass_ms,
    );
    let served = module.serve(master, cancel).await;
    drop(slave);
    let _ = std::fs::remove_file(&link);
    served.context("Failed to serve the simulated module")
}
