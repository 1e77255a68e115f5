//! `tagtrail capture`: send EPCIS documents to ingest the way a device or an EPCIS client does.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use capture_client::{CaptureClient, Credential, DeviceSigner};
use clap::Args;
use epcis::rest::ErrorBehaviour;
use ledger::DeviceId;
use serde_json::{Value, json};

use crate::input::read_input;

/// Send EPCIS 2.0 documents to ingest's capture interface (POST /capture).
///
/// As a device (--device and --key: signs a batch statement over each document's events) or with
/// a site API token (--token). Prints one JSON line per stored event: file, captureID, eventIndex,
/// eventID (if any), eventHash, leafIndex and duplicate (already in the ledger). A refused
/// document prints its problem details on stderr; the command then exits 1 after the other files.
#[derive(Debug, Args)]
pub struct CaptureCommand {
    /// The ingest service, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "TAGTRAIL_INGEST_URL", value_name = "URL")]
    url: String,
    /// The reporting device's id.
    #[arg(long, value_name = "ID", requires = "key", conflicts_with = "token")]
    device: Option<String>,
    /// The device's private key file (from `tagtrail device keygen`).
    #[arg(long, value_name = "FILE", requires = "device")]
    key: Option<PathBuf>,
    /// A site API token (from `tagtrail token create`).
    #[arg(
        long,
        env = "TAGTRAIL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        required_unless_present = "device"
    )]
    token: Option<String>,
    /// Store the valid events of a document even if others are invalid
    /// (GS1-Capture-Error-Behaviour: proceed); by default one invalid event refuses the document.
    #[arg(long)]
    proceed: bool,
    /// EPCIS documents to send; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

impl CaptureCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let credential = match (self.device, self.key, self.token) {
            (Some(device), Some(key), _) => {
                let device = DeviceId::parse(&device)
                    .with_context(|| format!("Invalid device id {device:?}"))?;
                let key = super::device::signing_key(&key)?;
                Credential::Device(DeviceSigner::new(device, key))
            }
            (_, _, Some(token)) => Credential::Token(token),
            _ => anyhow::bail!("give --device and --key, or --token"),
        };
        let client = CaptureClient::new(&self.url, credential);
        let behaviour = self.proceed.then_some(ErrorBehaviour::Proceed);
        let mut out = std::io::stdout().lock();
        let mut all_stored = true;
        for file in &self.files {
            let bytes = read_input(file)?;
            let reply = client
                .capture(&bytes, behaviour)
                .with_context(|| format!("Failed to send {file} to {}", self.url))?;
            if reply.status != 202 {
                all_stored = false;
                // The refusal is the command's report on this file: on stderr, away from receipts.
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("{file}: HTTP {}: {}", reply.status, reply.body);
                }
                continue;
            }
            if reply.body["success"] != Value::Bool(true) {
                all_stored = false;
                #[allow(clippy::print_stderr)]
                {
                    eprintln!(
                        "{file}: some events were not stored: {}",
                        reply.body["errors"]
                    );
                }
            }
            let capture_id = reply.body["captureID"].clone();
            for receipt in reply.body["receipts"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let mut line = json!({"file": file, "captureID": capture_id});
                if let (Value::Object(line), Value::Object(receipt)) = (&mut line, receipt) {
                    line.extend(receipt.clone());
                }
                writeln!(out, "{line}")?;
            }
        }
        Ok(if all_stored {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}
