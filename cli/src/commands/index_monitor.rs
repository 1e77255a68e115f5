//! `tagtrail index-monitor`: recompute the verifiable index from what a log serves to anyone.

use std::io::Write;
use std::process::ExitCode;

use capture_client::log::LogClient;
use clap::Args;
use ledger::index::monitor::{MonitorError, check};

use super::verify::trusted_log;

/// Check a log's verifiable index as an independent monitor: from what trace-api serves to
/// anyone, trusting nothing but the log's key.
///
/// Reads the newest checkpoint (it must verify with --log-key), every entry up to its size (the
/// leaf records of its entry bundles, and the events they commit to, byte for byte) and the index
/// head the checkpoint commits to; checks that the entries give the checkpoint's root; then
/// recomputes each run of the head from its entries' events and compares it. For the first run
/// that differs it asks the log for key proofs, in key order, and names the first key whose
/// proof lists other entries than the events give (or does not verify).
///
/// Prints what it checked, then the verdict as the last line. Exit status: 0 when the index is
/// what the entries give; 1 when it is not, or the log serves entries or events its checkpoint
/// does not commit to; 2 for usage errors and a log that cannot be read; 3 when the checkpoint
/// commits to no index (nothing to check yet).
#[derive(Debug, Args)]
pub struct IndexMonitorCommand {
    /// The trace-api to read the log from (`http://host:port`).
    #[arg(long, value_name = "URL")]
    url: String,
    /// The log's checkpoint verifier key, `<name>+<key id>+<base64 key>`, or a file holding it.
    /// Repeat it to trust several keys (a key rotation).
    #[arg(long = "log-key", value_name = "KEY", required = true)]
    log_keys: Vec<String>,
    /// The log's origin (the first line of its checkpoints). Default: the name of the log key(s).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
}

impl IndexMonitorCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let log = trusted_log(&self.log_keys, self.origin.as_deref())?;
        let mut client = LogClient::new(&self.url);
        let report = match check(&mut client, &log) {
            Ok(report) => report,
            Err(MonitorError::Read(error)) => {
                return Err(anyhow::Error::new(error).context("Failed to read the log"));
            }
            Err(error @ MonitorError::Checkpoint(_)) => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "FAILED: {error}")?;
                return Ok(ExitCode::from(1));
            }
        };
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "checkpoint of {} entries: every entry read, its event the bytes its leaf record \
             commits to{}",
            report.size,
            match report.unbound {
                0 => String::new(),
                n =>
                    format!(" ({n} version 1 records: their events checked by their CBV 2.0 hash)"),
            }
        )?;
        if report.indexed > 0 {
            writeln!(
                out,
                "verifiable index of {} entries: {} runs, {} pairs recomputed from the events",
                report.indexed, report.runs, report.pairs
            )?;
        }
        Ok(match report.problem {
            Some(ledger::index::monitor::MonitorProblem::NoIndex) | None if report.indexed == 0 => {
                writeln!(
                    out,
                    "incomplete: the checkpoint commits to no verifiable index yet"
                )?;
                ExitCode::from(3)
            }
            None => {
                writeln!(
                    out,
                    "valid: the index the checkpoint commits to is the one its entries give"
                )?;
                ExitCode::SUCCESS
            }
            Some(problem) => {
                writeln!(out, "FAILED: {problem}")?;
                ExitCode::from(1)
            }
        })
    }
}
