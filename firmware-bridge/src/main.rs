//! `firmware-bridge`: the edge service (`run`) and the reader simulator (`simulate`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use firmware_bridge::config::{Config, LogConfig, LogFormat};
use firmware_bridge::mqtt::{BrokerAddress, SimulatedPublisher};
use firmware_bridge::serial::SimulatedJrdModule;
use firmware_bridge::simulator::{TagPopulation, TimedNotice, portal_pass};
use tokio_serial::SerialPort as _;
use tokio_util::sync::CancellationToken;

/// Turns RFID reads and sensor readings into device-signed EPCIS 2.0 events, spooled on disk
/// until ingest has accepted them.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format: text or json (wins over the configuration's [log] format).
    #[arg(long, global = true, value_name = "FORMAT", value_parser = LogFormat::parse)]
    log_format: Option<LogFormat>,
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
    /// Simulate readers and sensors: a JRD-4035 serial module on a pseudo-terminal (`--link`;
    /// point a `kind = "jrd"` reader's `port` at it) and/or Zebra and Impinj readers and sensors
    /// publishing to an MQTT broker (`--mqtt`), all reporting a population of SGTIN-96 tags
    /// passing through the field. Tag reads per second = tags × reads-per-tag × 1000 / pass-ms.
    #[command(group(clap::ArgGroup::new("output").required(true).multiple(true).args(["link", "mqtt"])))]
    Simulate {
        /// Where to create a symbolic link to the pseudo-terminal (the "serial port").
        #[arg(long)]
        link: Option<PathBuf>,
        #[command(flatten)]
        mqtt: MqttSimulation,
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

/// The MQTT side of `simulate`.
#[derive(Debug, clap::Args)]
struct MqttSimulation {
    /// MQTT broker to publish to: HOST[:PORT] or mqtt://HOST[:PORT] (port 1883 by default).
    #[arg(long, value_name = "BROKER")]
    mqtt: Option<String>,
    /// Prefix of every published topic (the bridge's `[mqtt] topic_prefix`).
    #[arg(long, default_value = "", requires = "mqtt")]
    mqtt_prefix: String,
    /// MQTT client id of the simulator (default: tagtrail-simulator-<pid>).
    #[arg(long, requires = "mqtt")]
    mqtt_client_id: Option<String>,
    /// Topic of a simulated Zebra FX/ATR reader (IoT Connector tag data events), below the prefix.
    #[arg(long, requires = "mqtt")]
    zebra_topic: Option<String>,
    /// Topic of a simulated Impinj reader (IoT device interface tag inventory events), below the
    /// prefix.
    #[arg(long, requires = "mqtt")]
    impinj_topic: Option<String>,
    /// Topic of a simulated cold-room sensor (temperature and humidity), below the prefix;
    /// repeat for several sensors.
    #[arg(long, requires = "mqtt")]
    sensor_topic: Vec<String>,
    /// Milliseconds between two messages of each sensor.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    sensor_interval_ms: u64,
    /// Tag reads within this many milliseconds are published as one message (an array of events).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    batch_ms: u64,
    /// Antenna port the simulated MQTT readers report.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    antenna: u16,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config: path } => {
            // The settings (with their [log]) before anything is logged.
            let config = Config::read(&path, std::env::vars(), cli.log_format)
                .with_context(|| format!("Failed to load the configuration {}", path.display()))?;
            service_kit::log::init(&config.log).map_err(anyhow::Error::msg)?;
            in_runtime(|cancel| run(config, path, cancel))
        }
        Command::Simulate {
            link,
            mqtt,
            tags,
            first_serial,
            pass_ms,
            reads_per_tag,
        } => {
            let log = LogConfig {
                format: cli.log_format.unwrap_or_default(),
                ..LogConfig::default()
            };
            service_kit::log::init(&log).map_err(anyhow::Error::msg)?;
            in_runtime(|cancel| async move {
                let population = TagPopulation::sgtin96(tags, first_serial);
                let pass = portal_pass(&population, pass_ms, reads_per_tag, first_serial);
                let publisher = mqtt_publisher(mqtt, pass.clone(), pass_ms)?;
                tracing::info!(tags, pass_ms, reads_per_tag, "simulating");
                let serial = async {
                    match link {
                        Some(link) => simulate(link, pass.clone(), pass_ms, cancel.clone()).await,
                        None => Ok(()),
                    }
                };
                let published = async {
                    match publisher {
                        Some(publisher) => publisher
                            .run(cancel.clone())
                            .await
                            .context("Failed to publish the MQTT simulation"),
                        None => Ok(()),
                    }
                };
                let (serial, published) = tokio::join!(serial, published);
                serial.and(published)
            })
        }
    }
}

/// Runs `task` on a multi-threaded runtime until it ends, with a token cancelled on SIGINT or
/// SIGTERM.
fn in_runtime<F>(task: impl FnOnce(CancellationToken) -> F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("Failed to start the tokio runtime")?;
    runtime.block_on(async move {
        let cancel = service_kit::shutdown::cancel_on_signals()
            .context("Failed to install the SIGINT/SIGTERM handlers")?;
        task(cancel).await
    })
}

async fn run(config: Config, path: PathBuf, cancel: CancellationToken) -> anyhow::Result<()> {
    let key_text = std::fs::read_to_string(&config.device_key_file).with_context(|| {
        format!(
            "Failed to read the device key {}",
            config.device_key_file.display()
        )
    })?;
    let key = ledger::key_file::parse_private_key_file(&key_text)
        .context("Failed to parse the device key")?;
    for note in &config.deprecated {
        tracing::warn!("{}: {note}", path.display());
    }
    if let Some(sealing) = &config.sealing {
        tracing::info!(fields = ?sealing.fields, recipients = sealing.recipients.len(), "sealing fields before they are spooled");
        if sealing.fields.iter().any(|field| field == "/tagtrail:tids") {
            tracing::warn!(
                "TIDs are sealed: the consumer verdict cannot compare them with the tags' earlier \
                 ones (tid_mismatch) for this site's sightings"
            );
        }
    }
    tracing::info!(device = %config.device, readers = config.readers.len(), "bridge starting");
    firmware_bridge::startup::run(config, key, cancel)
        .await
        .context("Failed to run the bridge")
}

fn mqtt_publisher(
    mqtt: MqttSimulation,
    notices: Vec<TimedNotice>,
    pass_ms: u64,
) -> anyhow::Result<Option<SimulatedPublisher>> {
    let Some(broker) = mqtt.mqtt else {
        return Ok(None);
    };
    let broker = BrokerAddress::parse(&broker).context("Failed to parse --mqtt")?;
    if mqtt.zebra_topic.is_none() && mqtt.impinj_topic.is_none() && mqtt.sensor_topic.is_empty() {
        anyhow::bail!(
            "--mqtt needs at least one of --zebra-topic, --impinj-topic or --sensor-topic"
        );
    }
    Ok(Some(SimulatedPublisher {
        broker,
        client_id: mqtt
            .mqtt_client_id
            .unwrap_or_else(|| format!("tagtrail-simulator-{}", std::process::id())),
        prefix: mqtt.mqtt_prefix,
        zebra_topic: mqtt.zebra_topic,
        impinj_topic: mqtt.impinj_topic,
        sensor_topics: mqtt.sensor_topic,
        antenna: mqtt.antenna,
        notices,
        loop_ms: pass_ms,
        batch_ms: mqtt.batch_ms,
        sensor_interval: std::time::Duration::from_millis(mqtt.sensor_interval_ms),
    }))
}

async fn simulate(
    link: PathBuf,
    notices: Vec<TimedNotice>,
    pass_ms: u64,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let (master, slave) =
        tokio_serial::SerialStream::pair().context("Failed to open a pseudo-terminal")?;
    let name = slave.name().context("Failed to name the pseudo-terminal")?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&name, &link)
        .with_context(|| format!("Failed to link {} to {name}", link.display()))?;
    tracing::info!(link = %link.display(), pty = %name, "simulated JRD module ready");
    let module = SimulatedJrdModule::new(notices, pass_ms);
    let served = module.serve(master, cancel).await;
    drop(slave);
    let _ = std::fs::remove_file(&link);
    served.context("Failed to serve the simulated module")
}
