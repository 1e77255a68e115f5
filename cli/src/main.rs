//! The `tagtrail` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod input;

/// tagtrail: supply-chain traceability on GS1 EPCIS 2.0 and a verifiable ledger.
#[derive(Debug, Parser)]
#[command(name = "tagtrail", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// EPCIS 2.0 documents: CBV 2.0 event hashes and validation.
    #[command(subcommand)]
    Epcis(commands::epcis::EpcisCommand),
    /// EPC identifiers and the GS1 Tag Data Standard binary encodings.
    #[command(subcommand)]
    Epc(commands::epc::EpcCommand),
    /// GS1 Digital Link URIs.
    #[command(subcommand)]
    Dl(commands::dl::DlCommand),
    Migrate(commands::ledger::MigrateCommand),
    Audit(commands::ledger::AuditCommand),
    IndexMonitor(commands::index_monitor::IndexMonitorCommand),
    Keygen(commands::ledger::KeygenCommand),
    LogKeys(commands::log_keys::LogKeysCommand),
    ExportLog(commands::ledger::ExportLogCommand),
    Anchors(commands::anchors::AnchorsCommand),
    /// Organisations: who custody is held by, their company prefixes and delegates.
    #[command(subcommand)]
    Org(commands::org::OrgCommand),
    Participants(commands::org::ParticipantsCommand),
    /// Sites and the locations they speak for (ingest's registry).
    #[command(subcommand)]
    Site(commands::site::SiteCommand),
    /// Device keys and registered devices (ingest's registry).
    #[command(subcommand)]
    Device(commands::device::DeviceCommand),
    /// Site API tokens for EPCIS clients without device keys (ingest's registry).
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    Capture(commands::capture::CaptureCommand),
    /// NFC tags that cannot be copied (NTAG 424 DNA): their keys, registration and tap URLs.
    #[command(subcommand)]
    Nfc(commands::nfc::NfcCommand),
    /// Recipients of sealed values: their X25519 keys.
    #[command(subcommand)]
    Recipient(commands::sealed::RecipientCommand),
    Seal(commands::sealed::SealCommand),
    Open(commands::sealed::OpenCommand),
    /// Signed access grants for regulators and partners who hold a key; sealed values handed on.
    #[command(subcommand)]
    Grant(commands::grant::GrantCommand),
    Erase(commands::sealed::EraseCommand),
    Verify(commands::verify::VerifyCommand),
    /// The access log: who looked at what through trace-api's credentialed routes.
    #[command(subcommand)]
    AccessLog(commands::access_log::AccessLogCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Epcis(cmd) => cmd.run(),
        Command::Epc(cmd) => cmd.run(),
        Command::Dl(cmd) => cmd.run(),
        Command::Migrate(cmd) => cmd.run(),
        Command::Audit(cmd) => cmd.run(),
        Command::IndexMonitor(cmd) => cmd.run(),
        Command::Keygen(cmd) => cmd.run(),
        Command::LogKeys(cmd) => cmd.run(),
        Command::ExportLog(cmd) => cmd.run(),
        Command::Anchors(cmd) => cmd.run(),
        Command::Org(cmd) => cmd.run(),
        Command::Participants(cmd) => cmd.run(),
        Command::Site(cmd) => cmd.run(),
        Command::Device(cmd) => cmd.run(),
        Command::Token(cmd) => cmd.run(),
        Command::Capture(cmd) => cmd.run(),
        Command::Nfc(cmd) => cmd.run(),
        Command::Recipient(cmd) => cmd.run(),
        Command::Seal(cmd) => cmd.run(),
        Command::Open(cmd) => cmd.run(),
        Command::Grant(cmd) => cmd.run(),
        Command::Erase(cmd) => cmd.run(),
        Command::Verify(cmd) => cmd.run(),
        Command::AccessLog(cmd) => cmd.run(),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // The one place the command reports a failure: the whole cause chain, on stderr.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {error:#}");
            }
            ExitCode::from(2)
        }
    }
}
