//! `tagtrail token`: site API tokens, for EPCIS clients without device keys (their events are
//! recorded as unattested).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use registry::TokenId;

use super::site::{DatabaseArgs, block_on_db, parse_site};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a site and print it (the only time it is shown: only its SHA-256 is
    /// stored). Send it as `Authorization: Bearer <token>`.
    Create {
        #[arg(long, value_name = "SITE")]
        site: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a token for good, by its id (the 16 hex digits after `tt_`).
    Revoke {
        #[arg(long = "id", value_name = "TOKEN_ID")]
        token: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the tokens (ids, never secrets).
    List {
        #[arg(long, value_name = "SITE")]
        site: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

impl TokenCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            Self::Create {
                site,
                label,
                database,
            } => {
                let site = parse_site(&site)?;
                block_on_db(&database, |client| async move {
                    let token = registry::create_token(&client, &site, &label)
                        .await
                        .context("Failed to create the token")?;
                    writeln!(out, "{}", token.expose())?;
                    Ok(())
                })?;
            }
            Self::Revoke { token, database } => {
                let token = TokenId::parse(&token).context("Invalid token id")?;
                block_on_db(&database, |client| async move {
                    registry::revoke_token(&client, &token)
                        .await
                        .context("Failed to revoke the token")?;
                    writeln!(out, "token {token} revoked")?;
                    Ok(())
                })?;
            }
            Self::List { site, database } => {
                let site = site.as_deref().map(parse_site).transpose()?;
                block_on_db(&database, |client| async move {
                    for token in registry::list_tokens(&client, site.as_ref())
                        .await
                        .context("Failed to list the tokens")?
                    {
                        let state = if token.revoked { "revoked" } else { "active" };
                        writeln!(
                            out,
                            "{}\t{}\t{state}\t{}",
                            token.token, token.site, token.label
                        )?;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
