//! `tagtrail org`: organisations (the parties custody is held by), the GS1 company prefixes they
//! own and the partners they delegate to; `tagtrail participants`: the whole registry of parties
//! as verifiers read it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use epcis::epc::CompanyPrefix;
use ledger::OrganisationId;

use super::site::{DatabaseArgs, block_on_db};

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Register an organisation, optionally with the GS1 company prefixes it owns: it may
    /// commission the EPCs issued under them, and has custody of them until it ships them.
    Add {
        /// The organisation's id (no spaces, at most 128 bytes).
        #[arg(long = "id", value_name = "ORGANISATION")]
        organisation: String,
        /// A GS1 company prefix it owns (6 to 12 digits; repeat the flag for several).
        #[arg(long = "prefix", value_name = "DIGITS")]
        prefixes: Vec<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Add company prefixes to an organisation (one another organisation owns is refused).
    AddPrefix {
        #[arg(long = "id", value_name = "ORGANISATION")]
        organisation: String,
        #[arg(required = true, value_name = "DIGITS")]
        prefixes: Vec<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Let another organisation act with this one's authority (a brand names its logistics
    /// partner).
    Delegate {
        #[arg(long = "id", value_name = "ORGANISATION")]
        organisation: String,
        /// The organisation that may act for it.
        #[arg(long = "to", value_name = "ORGANISATION")]
        delegate: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Name an organisation a regulator (a food-safety authority): its recalls hold for any item,
    /// besides each item's brand. `--remove` ends it.
    Regulator {
        #[arg(long = "id", value_name = "ORGANISATION")]
        organisation: String,
        /// End the organisation's standing as a regulator.
        #[arg(long)]
        remove: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the organisations: prefixes, delegates and sites.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

impl OrgCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            Self::Add {
                organisation,
                prefixes,
                database,
            } => {
                let organisation = parse_organisation(&organisation)?;
                let prefixes = parse_prefixes(&prefixes)?;
                block_on_db(&database, |mut client| async move {
                    registry::add_organisation(&mut client, &organisation, &prefixes)
                        .await
                        .context("Failed to add the organisation")?;
                    writeln!(
                        out,
                        "organisation {organisation} added with {} company prefix(es)",
                        prefixes.len()
                    )?;
                    Ok(())
                })?;
            }
            Self::AddPrefix {
                organisation,
                prefixes,
                database,
            } => {
                let organisation = parse_organisation(&organisation)?;
                let prefixes = parse_prefixes(&prefixes)?;
                block_on_db(&database, |mut client| async move {
                    registry::add_organisation_prefixes(&mut client, &organisation, &prefixes)
                        .await
                        .context("Failed to add the company prefixes")?;
                    for prefix in &prefixes {
                        writeln!(
                            out,
                            "organisation {organisation}: company prefix {} added",
                            prefix.as_str()
                        )?;
                    }
                    Ok(())
                })?;
            }
            Self::Delegate {
                organisation,
                delegate,
                database,
            } => {
                let organisation = parse_organisation(&organisation)?;
                let delegate = parse_organisation(&delegate)?;
                block_on_db(&database, |mut client| async move {
                    registry::add_delegate(&mut client, &organisation, &delegate)
                        .await
                        .context("Failed to add the delegate")?;
                    writeln!(
                        out,
                        "organisation {delegate} may now act for {organisation}"
                    )?;
                    Ok(())
                })?;
            }
            Self::Regulator {
                organisation,
                remove,
                database,
            } => {
                let organisation = parse_organisation(&organisation)?;
                block_on_db(&database, |mut client| async move {
                    registry::set_regulator(&mut client, &organisation, !remove)
                        .await
                        .context("Failed to change the organisation's standing as a regulator")?;
                    match remove {
                        false => writeln!(out, "organisation {organisation} is a regulator")?,
                        true => writeln!(out, "organisation {organisation} is no regulator")?,
                    }
                    Ok(())
                })?;
            }
            Self::List { database } => {
                block_on_db(&database, |client| async move {
                    for info in registry::list_organisations(&client)
                        .await
                        .context("Failed to list the organisations")?
                    {
                        writeln!(
                            out,
                            "{}\tprefixes: {}\tdelegates: {}\tsites: {}{}",
                            info.organisation,
                            info.prefixes.join(" "),
                            info.delegates.join(" "),
                            info.sites.join(" "),
                            if info.regulator { "\tregulator" } else { "" }
                        )?;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Print the registry of the parties as JSON, the file `tagtrail verify --participants` reads:
/// every organisation with its company prefixes and delegates, every site with its organisation,
/// every device with its site and every public key it has had.
///
/// Read-only (a member of tagtrail_reader may run it). Publish it with the log's verifier key:
/// verifiers judge who had authority for each event of a history with it.
#[derive(Debug, Args)]
pub struct ParticipantsCommand {
    #[command(flatten)]
    database: DatabaseArgs,
}

impl ParticipantsCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        block_on_db(&self.database, |mut client| async move {
            // One snapshot for every table.
            let transaction = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .context("Failed to start a read-only transaction")?;
            let participants = registry::participants(&transaction)
                .await
                .context("Failed to read the registry")?;
            transaction.commit().await?;
            serde_json::to_writer_pretty(&mut out, &participants)?;
            writeln!(out)?;
            Ok(())
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

pub(crate) fn parse_organisation(text: &str) -> anyhow::Result<OrganisationId> {
    OrganisationId::parse(text).with_context(|| format!("Invalid organisation id {text:?}"))
}

fn parse_prefixes(texts: &[String]) -> anyhow::Result<Vec<CompanyPrefix>> {
    texts
        .iter()
        .map(|text| {
            CompanyPrefix::parse(text).with_context(|| format!("Invalid company prefix {text:?}"))
        })
        .collect()
}
