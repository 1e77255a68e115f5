//! `tagtrail grant`: signed access grants for regulators and partners who hold a key (`issue`,
//! `list`, `revoke`), requests made with one (`request`), and sealed values handed on to further
//! recipients (`sealed`).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Subcommand;
use ledger::grant::{Grant, Permission, Role, SignedParts, content_digest, sign_request};
use ledger::note::{Note, NoteSignerKey, NoteVerifierKey};
use registry::{GrantRequest, TokenId};
use secrecy::{ExposeSecret as _, SecretString};

use super::site::{DatabaseArgs, block_on_db, parse_site};
use super::token::parse_duration;

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Issue a signed access grant to the holder of a key and print it (also with --out): a
    /// `regulator` reads every event, a `partner` those reported from its sites (one or more
    /// `--site`). The grantee signs every request with its key (`tagtrail grant request`); the
    /// grant alone asks nothing. trace-api takes it when `grants.keys` holds the issuer's key.
    Issue {
        /// The operator's grant signing key (`tagtrail keygen --name <name>`).
        #[arg(long, value_name = "FILE")]
        issuer_key: PathBuf,
        /// The grantee's public key: its file (`tagtrail keygen` writes `<key>.pub`) or the key
        /// itself (`<name>+<id>+<base64>`).
        #[arg(long, value_name = "KEY")]
        grantee: String,
        /// `regulator` or `partner`.
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// A partner's sites.
        #[arg(long, value_name = "SITE")]
        site: Vec<String>,
        /// What it may do: `query`, `export`, `subscribe` (every one if none is given).
        #[arg(long, value_name = "PERMISSION")]
        permission: Vec<String>,
        /// How long it is valid: `30d`, `12h`, `90m` or `3600s`.
        #[arg(long, value_name = "DURATION")]
        expires: String,
        /// A label to recognise it by (kept in the registry, not in the grant).
        #[arg(long, default_value = "")]
        label: String,
        /// Also write the grant to this file (must not exist).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the grants: id, role, sites, permissions, grantee key, expiry, state, label.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a grant for good, by its id: trace-api refuses it from the next request on.
    Revoke {
        #[arg(long = "id", value_name = "GRANT_ID")]
        grant: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Make one request to trace-api with a grant, signed with the grantee's key (RFC 9421, with
    /// a fresh nonce): prints the answer's body; exits 0 on a 2xx answer, 1 on any other (its
    /// status on standard error), 2 on bad input.
    Request {
        /// The grant (`tagtrail grant issue --out`).
        #[arg(long, value_name = "FILE")]
        grant: PathBuf,
        /// The grantee's private key (`tagtrail keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The method: GET, POST or DELETE.
        #[arg(long, default_value = "GET")]
        method: String,
        /// The request's body, a file (`-` for standard input), sent as JSON.
        #[arg(long, value_name = "FILE")]
        data: Option<String>,
        /// The whole URL, as `https://trace.example/events?EQ_bizStep=shipping`.
        #[arg(value_name = "URL")]
        url: String,
    },
    /// Hand values sealed to you on to further recipients (a regulator, an auditor).
    Sealed(super::sealed::GrantCommand),
}

impl GrantCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            Self::Issue {
                issuer_key,
                grantee,
                role,
                site,
                permission,
                expires,
                label,
                out: file,
                database,
            } => {
                let issuer = read_signer(&issuer_key, "--issuer-key")?;
                let grantee = read_verifier(&grantee)?;
                let role = Role::parse(&role)
                    .with_context(|| format!("Invalid role {role:?}: regulator or partner"))?;
                let sites = site
                    .iter()
                    .map(|site| parse_site(site))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let permissions = permission
                    .iter()
                    .map(|name| {
                        Permission::parse(name).with_context(|| {
                            format!("Invalid permission {name:?}: query, export or subscribe")
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let request = GrantRequest {
                    grantee,
                    role,
                    sites,
                    permissions,
                    expires_in: parse_duration(&expires)?,
                    label,
                };
                if let Some(file) = &file {
                    anyhow::ensure!(!file.exists(), "{} exists: not overwritten", file.display());
                }
                block_on_db(&database, |client| async move {
                    let (grant, note) = registry::issue_grant(&client, &request, &issuer)
                        .await
                        .context("Failed to issue the grant")?;
                    if let Some(file) = file {
                        std::fs::write(&file, &note)
                            .with_context(|| format!("Failed to write {}", file.display()))?;
                    }
                    write!(out, "{note}")?;
                    writeln!(std::io::stderr(), "grant {} issued", grant.id)?;
                    Ok(())
                })?;
            }
            Self::List { database } => block_on_db(&database, |client| async move {
                for grant in registry::list_grants(&client).await? {
                    let state = if grant.revoked {
                        "revoked"
                    } else if grant.expired {
                        "expired"
                    } else {
                        "active"
                    };
                    let sites = match grant.sites.is_empty() {
                        true => "-".to_owned(),
                        false => grant.sites.join(","),
                    };
                    writeln!(
                        out,
                        "{}\t{}\t{sites}\t{}\t{}\t{}\t{state}\t{}",
                        grant.id,
                        grant.role,
                        grant.permissions.join(","),
                        grant.grantee,
                        grant.expires_at,
                        grant.label
                    )?;
                }
                Ok(())
            })?,
            Self::Revoke { grant, database } => {
                let id = TokenId::parse(&grant).context("Invalid grant id: 16 hex digits")?;
                block_on_db(&database, |client| async move {
                    registry::revoke_grant(&client, &id)
                        .await
                        .context("Failed to revoke the grant")?;
                    writeln!(out, "grant {id} revoked")?;
                    Ok(())
                })?;
            }
            Self::Request {
                grant,
                key,
                method,
                data,
                url,
            } => return request(&grant, &key, &method, data.as_deref(), &url),
            Self::Sealed(cmd) => return cmd.run(),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// A note signing key from its file.
fn read_signer(path: &Path, flag: &str) -> anyhow::Result<NoteSignerKey> {
    let text = SecretString::from(
        std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read {flag} {}", path.display()))?,
    );
    NoteSignerKey::parse(text.expose_secret().trim()).with_context(|| {
        format!(
            "{flag} {} is not a private key (PRIVATE+KEY+...): make one with tagtrail keygen",
            path.display()
        )
    })
}

/// A verifier key given as itself or as the file holding it.
fn read_verifier(spelling: &str) -> anyhow::Result<NoteVerifierKey> {
    let text = match NoteVerifierKey::parse(spelling) {
        Ok(key) => return Ok(key),
        Err(_) => std::fs::read_to_string(spelling).with_context(|| {
            format!("--grantee {spelling:?} is neither a key nor a readable file")
        })?,
    };
    NoteVerifierKey::parse(text.trim()).with_context(|| {
        format!("--grantee {spelling}: not a verifier key (<name>+<id>+<base64>, as tagtrail keygen writes it)")
    })
}

/// A grant file read back: its note's text as a grant (its signature is trace-api's to check).
fn read_grant(path: &Path) -> anyhow::Result<Grant> {
    let message = std::fs::read_to_string(path)
        .with_context(|| format!("Failed to read the grant {}", path.display()))?;
    let note = Note::parse(&message)
        .with_context(|| format!("{} is not a signed grant", path.display()))?;
    Grant::parse(note.text()).with_context(|| format!("{} is not a grant", path.display()))
}

/// `tagtrail grant request`.
fn request(
    grant: &Path,
    key: &Path,
    method: &str,
    data: Option<&str>,
    url: &str,
) -> anyhow::Result<ExitCode> {
    let grant = read_grant(grant)?;
    let key = read_signer(key, "--key")?;
    anyhow::ensure!(
        key.verifier_key() == grant.grantee,
        "--key is not the grant's grantee key ({})",
        grant.grantee
    );
    let method = method.to_ascii_uppercase();
    anyhow::ensure!(
        matches!(method.as_str(), "GET" | "POST" | "DELETE"),
        "--method is GET, POST or DELETE"
    );
    let body = match data {
        None => None,
        Some("-") => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body)?;
            Some(body)
        }
        Some(file) => Some(std::fs::read(file).with_context(|| format!("Failed to read {file}"))?),
    };
    let uri: ureq::http::Uri = url
        .parse()
        .with_context(|| format!("Invalid URL {url:?}"))?;
    let digest = body.as_deref().map(content_digest);
    let parts = SignedParts {
        method: &method,
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        content_digest: digest.as_deref(),
    };
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let signature = sign_request(
        &key,
        &grant.id,
        &parts,
        created,
        &epcis::hex::encode_lower(&nonce),
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let builder = ureq::http::Request::builder()
        .method(method.as_str())
        .uri(uri)
        .header("Signature-Input", &signature.signature_input)
        .header("Signature", &signature.signature);
    let mut response = match (body, digest) {
        (Some(body), Some(digest)) => agent.run(
            builder
                .header("Content-Type", "application/json")
                .header("Content-Digest", digest)
                .body(body)?,
        ),
        _ => agent.run(builder.body(())?),
    }
    .with_context(|| format!("Failed to reach {url}"))?;
    let status = response.status();
    let answer = response
        .body_mut()
        .read_to_vec()
        .context("Failed to read the answer")?;
    let mut out = std::io::stdout().lock();
    out.write_all(&answer)?;
    out.flush()?;
    if status.is_success() {
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(std::io::stderr(), "trace-api answered {status}")?;
        Ok(ExitCode::from(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::note::KeyName;

    #[test]
    fn a_grant_file_reads_back_and_a_key_names_its_grantee() {
        let issuer = NoteSignerKey::from_seed(KeyName::parse("grants.test").unwrap(), &[1; 32]);
        let grantee = NoteSignerKey::from_seed(KeyName::parse("auditor").unwrap(), &[2; 32]);
        let grant = Grant {
            id: "00112233aabbccdd".to_owned(),
            grantee: grantee.verifier_key(),
            role: Role::Regulator,
            sites: Vec::new(),
            permissions: vec![Permission::Query],
            expires: 4_000_000_000,
        };
        let message = grant.sign(&issuer).unwrap();
        let dir = std::env::temp_dir().join(format!("tagtrail-grant-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("grant.txt");
        std::fs::write(&file, &message).unwrap();
        assert_eq!(read_grant(&file).unwrap(), grant);
        std::fs::write(&file, "tagtrail.dev/access-grant/v1\n").unwrap();
        assert!(read_grant(&file).is_err(), "unsigned");
        assert_eq!(
            read_verifier(&grantee.verifier_key().to_string()).unwrap(),
            grantee.verifier_key()
        );
        assert!(read_verifier("nonsense-that-is-no-file").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
