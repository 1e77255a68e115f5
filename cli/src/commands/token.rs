//! `tagtrail token`: site API tokens, for EPCIS clients without device keys (their events are
//! recorded as unattested), and access tokens, for regulators and partners who query across
//! items through trace-api (`--role regulator|partner`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use registry::TokenId;

use super::site::{DatabaseArgs, block_on_db, parse_site};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (the only time it is shown: only its SHA-256 is stored).
    /// Send it as `Authorization: Bearer <token>`. `capture` (the default): a site's token for
    /// ingest, one `--site`. `regulator`: reads every event through trace-api's query
    /// interface. `partner`: reads the events reported from its sites (one or more `--site`).
    Create {
        /// `capture`, `regulator` or `partner`.
        #[arg(long, default_value = "capture", value_name = "ROLE")]
        role: String,
        /// The site (a capture token's one, a partner's one or more).
        #[arg(long, value_name = "SITE")]
        site: Vec<String>,
        /// A label to recognise the token by.
        #[arg(long, default_value = "")]
        label: String,
        /// How long a regulator's or partner's token is valid: `30d`, `12h`, `90m` or `3600s`
        /// (for ever if not given).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
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
    /// List the tokens (ids, never secrets): the sites' capture tokens, or with `--access` the
    /// regulators' and partners' (id, role, sites, state, expiry, label).
    List {
        #[arg(long, value_name = "SITE", conflicts_with = "access")]
        site: Option<String>,
        /// List the access tokens instead.
        #[arg(long)]
        access: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

impl TokenCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            Self::Create {
                role,
                site,
                label,
                expires,
                database,
            } => {
                let sites = site
                    .iter()
                    .map(|site| parse_site(site))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let expires = expires.as_deref().map(parse_duration).transpose()?;
                if role == "capture" {
                    let [site] = sites.as_slice() else {
                        anyhow::bail!("a capture token is a site's: give one --site");
                    };
                    anyhow::ensure!(
                        expires.is_none(),
                        "a capture token does not expire: revoke it when it is no longer needed"
                    );
                    let site = site.clone();
                    block_on_db(&database, |client| async move {
                        let token = registry::create_token(&client, &site, &label)
                            .await
                            .context("Failed to create the token")?;
                        writeln!(out, "{}", token.expose())?;
                        Ok(())
                    })?;
                } else {
                    let role = registry::Role::parse(&role).with_context(|| {
                        format!("Invalid role {role:?}: capture, regulator or partner")
                    })?;
                    block_on_db(&database, |client| async move {
                        let token =
                            registry::create_access_token(&client, role, &sites, &label, expires)
                                .await
                                .context("Failed to create the token")?;
                        writeln!(out, "{}", token.expose())?;
                        Ok(())
                    })?;
                }
            }
            Self::Revoke { token, database } => {
                let token = TokenId::parse(&token).context("Invalid token id")?;
                block_on_db(&database, |client| async move {
                    match registry::revoke_token(&client, &token).await {
                        Err(registry::RegistryError::NoSuchToken(_)) => {
                            registry::revoke_access_token(&client, &token).await
                        }
                        other => other,
                    }
                    .context("Failed to revoke the token")?;
                    writeln!(out, "token {token} revoked")?;
                    Ok(())
                })?;
            }
            Self::List {
                access: true,
                database,
                ..
            } => {
                block_on_db(&database, |client| async move {
                    for token in registry::list_access_tokens(&client)
                        .await
                        .context("Failed to list the tokens")?
                    {
                        let state = if token.revoked {
                            "revoked"
                        } else if token.expired {
                            "expired"
                        } else {
                            "active"
                        };
                        let sites = if token.sites.is_empty() {
                            "*".to_owned()
                        } else {
                            token.sites.join(",")
                        };
                        writeln!(
                            out,
                            "{}\t{}\t{sites}\t{state}\t{}\t{}",
                            token.token,
                            token.role,
                            token.expires_at.as_deref().unwrap_or("never"),
                            token.label
                        )?;
                    }
                    Ok(())
                })?;
            }
            Self::List { site, database, .. } => {
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

/// A duration as `--expires` takes it: a whole number and `d`, `h`, `m` or `s`.
pub(crate) fn parse_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    let unit = text.chars().last().unwrap_or('?');
    let seconds_per = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => anyhow::bail!("Invalid duration {text:?}: a number and d, h, m or s (30d)"),
    };
    let count: u64 = text[..text.len() - 1]
        .parse()
        .ok()
        .filter(|count| *count > 0)
        .with_context(|| format!("Invalid duration {text:?}: a number and d, h, m or s (30d)"))?;
    count
        .checked_mul(seconds_per)
        .map(std::time::Duration::from_secs)
        .with_context(|| format!("Invalid duration {text:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_days_hours_minutes_or_seconds() {
        assert_eq!(parse_duration("30d").unwrap().as_secs(), 30 * 86_400);
        assert_eq!(parse_duration("12h").unwrap().as_secs(), 12 * 3_600);
        assert_eq!(parse_duration("90m").unwrap().as_secs(), 90 * 60);
        assert_eq!(parse_duration("5s").unwrap().as_secs(), 5);
        for bad in [
            "",
            "d",
            "0d",
            "30",
            "3x",
            "-1d",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
