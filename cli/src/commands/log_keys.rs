//! `tagtrail log-keys`: the log's checkpoint keys as its database knows them, to follow a rotation
//! of the checkpoint key step by step (docs/OPERATIONS.md, "Checkpoint key rotation").

use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use ledger::note::Note;
use ledger_store::{Reader, SigningKey, StoredCheckpoint};
use serde_json::json;

use super::anchors::age;
use super::ledger::runtime;

/// Show the log's checkpoint keys: which keys signed its newest checkpoint, and every key it signed
/// with.
///
/// First the signatures of the newest checkpoint, in their order (the first is the primary key's:
/// the one an anchor carries), each checked against the key of its name and id in the database's
/// signing_keys table; then every key of that table, oldest first (the checkpoint signer registers
/// each of its keys there with the first checkpoint it signs), with whether and where it signed the
/// newest checkpoint. Run it after each step of a key rotation. Read-only: a role in
/// tagtrail_reader is enough. It shows what the database holds: verifiers trust the keys the
/// operator published, never this table.
///
/// Exit 0; 1 when a signature of the newest checkpoint does not verify under the listed key of its
/// name and id, or none of its signatures is by a listed key; 2 when the database cannot be read.
#[derive(Debug, Args)]
pub struct LogKeysCommand {
    /// PostgreSQL URL of the ledger database (a member of tagtrail_reader is enough).
    #[arg(
        long,
        env = "TAGTRAIL_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: String,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl LogKeysCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let (keys, newest) = runtime()?.block_on(async {
            let store = Reader::connect(&self.database_url).context("Invalid --database-url")?;
            let keys = store
                .signing_keys()
                .await
                .context("Failed to read the log's signing keys")?;
            let newest = store
                .latest_checkpoint()
                .await
                .context("Failed to read the newest checkpoint")?;
            anyhow::Ok((keys, newest))
        })?;
        let signatures = match &newest {
            Some(checkpoint) => signatures_of(checkpoint, &keys)?,
            None => Vec::new(),
        };
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{}", report_json(&keys, newest.as_ref(), &signatures))?;
        } else {
            write_report(&mut out, &keys, newest.as_ref(), &signatures)?;
        }
        let sound = newest.is_none()
            || (signatures.iter().any(|signature| signature.key.is_some())
                && signatures
                    .iter()
                    .all(|signature| signature.key.is_none() || signature.verified));
        Ok(if sound {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}

/// One signature of the newest checkpoint.
struct Signature {
    /// `<name>+<key id>`, as the signature line names its key.
    named: String,
    /// The listed key of that name and id (an index into the keys), if any.
    key: Option<usize>,
    /// Whether it verifies under that key (false without one).
    verified: bool,
}

/// The signatures of `checkpoint`, in order, each checked against the listed key of its name and
/// id.
fn signatures_of(
    checkpoint: &StoredCheckpoint,
    keys: &[SigningKey],
) -> anyhow::Result<Vec<Signature>> {
    let note = Note::parse(&checkpoint.note).with_context(|| {
        format!(
            "The newest checkpoint ({} entries) is not a signed note",
            checkpoint.size
        )
    })?;
    Ok(note
        .signatures()
        .iter()
        .map(|signature| {
            let key = keys.iter().position(|stored| {
                stored.key.name() == signature.name() && stored.key.id() == signature.id()
            });
            let verified = key.is_some_and(|i| {
                keys[i]
                    .key
                    .verify(note.text().as_bytes(), signature.signature())
            });
            Signature {
                named: format!("{}+{}", signature.name(), signature.id()),
                key,
                verified,
            }
        })
        .collect())
}

fn write_report(
    out: &mut impl Write,
    keys: &[SigningKey],
    newest: Option<&StoredCheckpoint>,
    signatures: &[Signature],
) -> std::io::Result<()> {
    match newest {
        None => writeln!(out, "no checkpoint yet")?,
        Some(checkpoint) => {
            writeln!(
                out,
                "newest checkpoint: {} entries, {} signature(s):",
                checkpoint.size,
                signatures.len()
            )?;
            for (i, signature) in signatures.iter().enumerate() {
                let status = match (signature.key, signature.verified) {
                    (Some(_), true) => "verified",
                    (Some(_), false) => "DOES NOT VERIFY under the listed key",
                    (None, _) => "by a key not in signing_keys",
                };
                let first = if i == 0 {
                    " (the first: anchors carry this one)"
                } else {
                    ""
                };
                writeln!(out, "  {}. {}  {status}{first}", i + 1, signature.named)?;
            }
        }
    }
    writeln!(
        out,
        "keys the log signed with (signing_keys), oldest first:"
    )?;
    if keys.is_empty() {
        writeln!(out, "  none")?;
    }
    for (i, stored) in keys.iter().enumerate() {
        let on_newest = match position_on_newest(i, signatures) {
            Some(position) => format!("signature {position} of the newest checkpoint"),
            None => "not on the newest checkpoint".to_owned(),
        };
        writeln!(
            out,
            "  {}  added {} ago  {on_newest}",
            stored.key,
            age(seconds_since(stored.added_at))
        )?;
    }
    Ok(())
}

fn report_json(
    keys: &[SigningKey],
    newest: Option<&StoredCheckpoint>,
    signatures: &[Signature],
) -> serde_json::Value {
    let newest = newest.map(|checkpoint| {
        json!({
            "treeSize": checkpoint.size.get(),
            "signatures": signatures.iter().map(|signature| json!({
                "key": signature.named,
                "verifierKey": signature.key.map(|i| keys[i].key.to_string()),
                "verified": signature.verified,
            })).collect::<Vec<_>>(),
        })
    });
    let keys: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, stored)| {
            json!({
                "verifierKey": stored.key.to_string(),
                "addedAtUnixSeconds": stored
                    .added_at
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |since| since.as_secs()),
                "newestCheckpointSignature": position_on_newest(i, signatures),
            })
        })
        .collect();
    json!({ "newestCheckpoint": newest, "keys": keys })
}

/// Where the listed key `key` signed the newest checkpoint (1 for the first signature), if it did
/// with a signature that verifies.
fn position_on_newest(key: usize, signatures: &[Signature]) -> Option<usize> {
    signatures
        .iter()
        .position(|signature| signature.key == Some(key) && signature.verified)
        .map(|i| i + 1)
}

/// Seconds from `time` to now (0 for a time ahead of this machine's clock).
fn seconds_since(time: SystemTime) -> f64 {
    SystemTime::now()
        .duration_since(time)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}
