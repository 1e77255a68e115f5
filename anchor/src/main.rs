//! The `anchor` worker: publishes the ledger's signed checkpoints to EVM chains.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use alloy_primitives::Address;
use anchor::config::{Config, FlagChain, LogFormat, Overrides};
use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use service_kit::config::CommonFlags;

/// tagtrail anchor: publishes the ledger's newest signed checkpoint to each configured EVM chain
/// every interval (when the tree grew), follows each transaction until it is confirmed, replaces it
/// with higher fees when it is stuck, and anchors again after a reorg. Its state is in PostgreSQL:
/// a restarted worker resumes where it stopped and never pays twice for one checkpoint on one chain.
///
/// Settings come from the config file (--config), then TAGTRAIL_ANCHOR_<SECTION>_<KEY>
/// environment variables, then these flags. Without a config file, --database-url, --rpc-url,
/// --chain-id and --key-file describe one chain.
#[derive(Debug, Parser)]
#[command(name = "anchor", version, about, long_about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The TOML config file (see anchor/anchor.example.toml).
    #[arg(long, env = "TAGTRAIL_ANCHOR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// PostgreSQL URL of the ledger database, as a login role in tagtrail_anchor.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The chain's JSON-RPC URL (one chain without a config file).
    #[arg(long, value_name = "URL", requires_all = ["chain_id", "key_file"])]
    rpc_url: Option<String>,
    /// The chain's EIP-155 id; the node must serve it.
    #[arg(long, value_name = "N")]
    chain_id: Option<u64>,
    /// The file holding the chain's signing key (64 hex digits; `anchor keygen` writes one).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// The anchor contract (default: the one the key's first transaction creates).
    #[arg(long, value_name = "ADDRESS")]
    contract: Option<Address>,
    /// Seconds between anchors.
    #[arg(long, value_name = "S")]
    interval: Option<u64>,
    /// Blocks deep, counting the anchor's own, before an anchor is confirmed.
    #[arg(long, value_name = "N")]
    confirmations: Option<u64>,
    /// Serve /metrics and the health endpoints on this address.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT", value_parser = LogFormat::parse)]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes a new chain signing key (64 hex digits) to FILE and prints its address.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Deploys the anchor contract with a key and prints its address.
    Deploy {
        #[arg(long, value_name = "URL")]
        rpc_url: String,
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
        /// The most offered per gas, in gwei.
        #[arg(long, value_name = "GWEI", default_value_t = 100.0)]
        fee_cap_gwei: f64,
    },
}

fn main() -> ExitCode {
    service_kit::shutdown::exit_code("anchor", run())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Some(Command::Keygen { out }) => return keygen(&out),
        Some(Command::Deploy {
            rpc_url,
            key_file,
            fee_cap_gwei,
        }) => return deploy(&rpc_url, &key_file, fee_cap_gwei),
        None => {}
    }
    let chain = match (args.rpc_url, args.chain_id, args.key_file) {
        (Some(rpc_url), Some(chain_id), Some(key_file)) => Some(FlagChain {
            rpc_url: SecretString::from(rpc_url),
            chain_id,
            key_file,
            contract: args.contract,
            interval: args.interval.map(Duration::from_secs),
            confirmations: args.confirmations,
        }),
        _ => None,
    };
    let overrides = Overrides {
        common: CommonFlags {
            database_url: args.database_url.map(SecretString::from),
            listen: args.metrics_listen,
            log_format: args.log_format,
        },
        chain,
    };
    let environment: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(args.config.as_deref(), environment.clone(), overrides)
        .context("Failed to load the settings")?;
    service_kit::log::init(&config.log).map_err(anyhow::Error::msg)?;
    actix_web::rt::System::new().block_on(async move {
        let cancel = service_kit::shutdown::cancel_on_signals()
            .context("Failed to install the SIGINT/SIGTERM handlers")?;
        anchor::service::run(config, &environment, cancel, |_| {}).await
    })
}

fn keygen(out: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let signer = anchor::tx::Signer::generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("Failed to create {} (it must not exist)", out.display()))?;
    file.write_all(format!("{}\n", signer.to_hex().as_str()).as_bytes())
        .with_context(|| format!("Failed to write {}", out.display()))?;
    #[allow(clippy::print_stdout)]
    {
        println!("{}", signer.address());
    }
    Ok(())
}

fn deploy(rpc_url: &str, key_file: &std::path::Path, fee_cap_gwei: f64) -> anyhow::Result<()> {
    let signer = anchor::tx::Signer::from_file(key_file)?;
    let rpc = anchor::rpc::Rpc::new(
        &SecretString::from(rpc_url.to_owned()),
        Duration::from_secs(10),
    );
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let fee_cap = (fee_cap_gwei * 1e9) as u128;
    let address =
        anchor::worker::deploy_contract(&rpc, &signer, fee_cap, Duration::from_secs(120))?;
    #[allow(clippy::print_stdout)]
    {
        println!("{address}");
    }
    Ok(())
}
