//! `tagtrail device`: device keys and the devices registered with ingest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use capture_client::{read_private_key, read_public_key};
use clap::Subcommand;
use ledger::DeviceId;
use ledger::batch::DeviceSigningKey;
use ledger::key_file::{private_key_file_text, public_key_file_text};
use registry::DeviceStatus;
use zeroize::Zeroizing;

use super::ledger::write_key_pair;
use super::site::{DatabaseArgs, block_on_db, parse_locations, parse_site};

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Generate an Ed25519 device key pair: the private key file (mode 0600, for the device and
    /// `tagtrail capture --key`) and the public key file (`<FILE>.pub`, for `device add`).
    Keygen {
        /// Where to write the private key (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Register a device of a site with its public key.
    Add {
        #[arg(long = "id", value_name = "DEVICE")]
        device: String,
        #[arg(long, value_name = "SITE")]
        site: String,
        /// The device's public key file (`{"algorithm": "ed25519", "key": "<base64>"}`).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        /// Restrict the device to these locations of its site (default: all of them).
        #[arg(long = "location", value_name = "LOCATION")]
        locations: Vec<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the devices.
    List {
        #[arg(long, value_name = "SITE")]
        site: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Refuse the device's captures from now on (401).
    Disable {
        #[arg(long = "id", value_name = "DEVICE")]
        device: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Accept the device's captures again.
    Enable {
        #[arg(long = "id", value_name = "DEVICE")]
        device: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Give the device a new public key; batches signed with the old one are refused from now on.
    Rekey {
        #[arg(long = "id", value_name = "DEVICE")]
        device: String,
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

impl DeviceCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            Self::Keygen { out: path } => {
                let mut seed = Zeroizing::new([0u8; 32]);
                getrandom::fill(seed.as_mut_slice())
                    .map_err(|error| anyhow::anyhow!("{error}"))
                    .context("Failed to read random bytes from the operating system")?;
                let public = DeviceSigningKey::from_seed(&seed).public_key();
                let public_text = public_key_file_text(&public);
                write_key_pair(
                    &path,
                    private_key_file_text(&seed).as_bytes(),
                    None,
                    public_text.as_bytes(),
                )?;
                write!(out, "{public_text}")?;
            }
            Self::Add {
                device,
                site,
                public_key,
                locations,
                database,
            } => {
                let device = parse_device(&device)?;
                let site = parse_site(&site)?;
                let key = read_public_key(&public_key)?;
                let locations = parse_locations(&locations)?;
                block_on_db(&database, |mut client| async move {
                    registry::add_device(&mut client, &device, &site, &key, &locations)
                        .await
                        .context("Failed to add the device")?;
                    let scope = if locations.is_empty() {
                        "every location of its site".to_owned()
                    } else {
                        locations
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    writeln!(
                        out,
                        "device {} added to site {} with key {}; it speaks for {scope}",
                        device.as_str(),
                        site.as_str(),
                        public_key_file_text(&key).trim_end()
                    )?;
                    Ok(())
                })?;
            }
            Self::List { site, database } => {
                let site = site.as_deref().map(parse_site).transpose()?;
                block_on_db(&database, |client| async move {
                    for device in registry::list_devices(&client, site.as_ref())
                        .await
                        .context("Failed to list the devices")?
                    {
                        let status = match device.status {
                            DeviceStatus::Active => "active",
                            DeviceStatus::Disabled => "disabled",
                        };
                        let key = device
                            .key
                            .as_ref()
                            .map(|key| public_key_file_text(key).trim_end().to_owned())
                            .unwrap_or_default();
                        writeln!(
                            out,
                            "{}\t{}\t{status}\tkeys={}\t{key}\t{}",
                            device.device,
                            device.site,
                            device.key_count,
                            device.locations.join(" ")
                        )?;
                    }
                    Ok(())
                })?;
            }
            Self::Disable { device, database } => {
                set_status(&mut out, &device, &database, DeviceStatus::Disabled)?
            }
            Self::Enable { device, database } => {
                set_status(&mut out, &device, &database, DeviceStatus::Active)?
            }
            Self::Rekey {
                device,
                public_key,
                database,
            } => {
                let device = parse_device(&device)?;
                let key = read_public_key(&public_key)?;
                block_on_db(&database, |mut client| async move {
                    registry::rekey_device(&mut client, &device, &key)
                        .await
                        .context("Failed to re-key the device")?;
                    writeln!(
                        out,
                        "device {} re-keyed: {}",
                        device.as_str(),
                        public_key_file_text(&key).trim_end()
                    )?;
                    Ok(())
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn set_status(
    out: &mut impl Write,
    device: &str,
    database: &DatabaseArgs,
    status: DeviceStatus,
) -> anyhow::Result<()> {
    let device = parse_device(device)?;
    block_on_db(database, |client| async move {
        registry::set_device_status(&client, &device, status)
            .await
            .context("Failed to change the device's status")?;
        let word = if status == DeviceStatus::Active {
            "enabled"
        } else {
            "disabled"
        };
        writeln!(out, "device {} {word}", device.as_str())?;
        Ok(())
    })
}

fn parse_device(text: &str) -> anyhow::Result<DeviceId> {
    DeviceId::parse(text).with_context(|| format!("Invalid device id {text:?}"))
}

/// Reads a private device key file (for `tagtrail capture`).
pub(crate) fn signing_key(path: &Path) -> anyhow::Result<DeviceSigningKey> {
    Ok(read_private_key(path)?)
}
