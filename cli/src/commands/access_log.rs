//! `tagtrail access-log verify`: checks, offline, a grantee's listing of its own access-log
//! entries (trace-api's `GET /access-log/entries`) against the access log's key.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ledger::access_log::Listing;

use crate::commands::verify::trusted_log;

/// The access log: who looked at what through trace-api's credentialed routes.
#[derive(Debug, Subcommand)]
pub enum AccessLogCommand {
    Verify(VerifyListingCommand),
}

impl AccessLogCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::Verify(cmd) => cmd.run(),
        }
    }
}

/// Checks a listing of access-log entries (`GET /access-log/entries` saved to a file): the
/// checkpoint is signed by the access log's key for its origin, every entry is the listed
/// token's, reads as an entry, and is in the checkpoint's tree at its leaf index. Prints one line
/// per entry (leaf index, time, method, target, events answered), then the verdict.
///
/// Exit status: 0 when the listing holds; 1 when a check failed (the last line names it); 2 for
/// usage errors and files that cannot be read or are not a listing.
#[derive(Debug, Args)]
pub struct VerifyListingCommand {
    /// The listing ('-' reads standard input).
    #[arg(value_name = "FILE")]
    file: String,
    /// The access log's checkpoint verifier key (trace-api's `access_log.signing_key`, as
    /// `tagtrail keygen` prints it), or a file holding it. Repeat it to trust several.
    #[arg(long = "key", value_name = "KEY", required = true)]
    keys: Vec<String>,
    /// The access log's origin. Default: the name of the key(s).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// The token id the entries must be (its 16 hex digits); default: the one the listing names.
    #[arg(long, value_name = "ID")]
    token: Option<String>,
}

impl VerifyListingCommand {
    #[allow(clippy::print_stdout)] // the command's output
    fn run(self) -> anyhow::Result<ExitCode> {
        let log = trusted_log(&self.keys, self.origin.as_deref())?;
        let bytes = crate::input::read_input(&self.file)?;
        let listing: Listing = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not an access-log listing", self.file))?;
        if let Some(token) = &self.token
            && *token != listing.token
        {
            println!(
                "FAILED: the listing is token {}'s, not {token}'s",
                listing.token
            );
            return Ok(ExitCode::from(1));
        }
        match listing.verify(&log) {
            Ok((entries, size)) => {
                for (listed, entry) in listing.entries.iter().zip(&entries) {
                    println!(
                        "{} {} {} {} answered={}",
                        listed.leaf_index, entry.at, entry.method, entry.target, entry.answered
                    );
                }
                let more = match listing.next_from {
                    Some(next) => format!(" (more from leaf {next})"),
                    None => String::new(),
                };
                println!(
                    "valid: {} entries of token {} in the access log's checkpoint of {size} entries{more}",
                    entries.len(),
                    listing.token
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                println!("FAILED: {error}");
                Ok(ExitCode::from(1))
            }
        }
    }
}
