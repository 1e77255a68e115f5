//! `tagtrail audit --rpc`: after the audit of the rows, the stored log against every checkpoint of
//! it anchored on a chain.
//!
//! The anchors are read from the chain, not from the `anchors` table: a superuser who rewrote the
//! log could have deleted those rows too, but not the chain's events. Each anchored checkpoint
//! (size, root) signed by one of the log's keys must be one the stored log still has: a size
//! beyond the log means its tail was deleted, another root at that size means its history was
//! rewritten.
//!
//! Anyone can emit an event with the log's origin topic, so an anchor signed by another key proves
//! nothing by itself, but it is not ignored on the database's word: a superuser who deleted the
//! log's checkpoints and signing keys, rewrote the log and started again under a new key would make
//! every old anchor "someone else's". With the keys read from the database, an anchor of the origin
//! by a key the database does not list fails the audit when it contradicts the stored log (and is
//! listed as ignored when the log has what it says); the auditor who knows the log's keys names
//! them (`--log-key`), and then anchors of other keys are ignored whatever they say.

use std::io::Write;

use alloy_primitives::Address;
use anchor_verify::format::Payload;
use anchor_verify::rpc::Rpc;
use anchor_verify::verify::{FoundAnchor, find_anchors};
use anyhow::Context;
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::note::{Note, NoteVerifiers};
use ledger_store::Log;
use tokio::runtime::Runtime;

use super::anchors::{log_verifiers, rpc_client};

/// The chain to check the log against, and who the log is (when not read from the database).
#[derive(Debug)]
pub(crate) struct ChainCheck {
    rpc: Rpc,
    chain_id: u64,
    contract: Option<Address>,
    from_block: u64,
    origin: Option<Origin>,
    keys: Option<NoteVerifiers>,
}

/// The log's origin and keys, as the check uses them.
struct LogIdentity {
    origin: Origin,
    keys: NoteVerifiers,
}

impl ChainCheck {
    /// Reads the options and asks the node for its chain id, so that a wrong URL is found before a
    /// long audit rather than after it.
    pub(crate) fn connect(
        url: &str,
        contract: Option<Address>,
        from_block: u64,
        origin: Option<&str>,
        log_keys: &[String],
    ) -> anyhow::Result<Self> {
        let origin = origin
            .map(Origin::parse)
            .transpose()
            .context("Invalid --origin")?;
        let keys = log_verifiers(log_keys)?;
        let rpc = rpc_client(url)?;
        let chain_id = rpc
            .chain_id()
            .context("Failed to ask the node for its chain id")?;
        Ok(Self {
            rpc,
            chain_id,
            contract,
            from_block,
            origin,
            keys,
        })
    }

    /// Checks the stored log, audited at `audited` entries, against every anchor of it on the
    /// chain, printing a line per anchor. `Ok(last line)` when the log holds every anchored
    /// checkpoint, `Err(the first failure)` when not; an error when the chain or the database
    /// could not be read.
    pub(crate) fn run(
        &self,
        runtime: &Runtime,
        store: &Log,
        audited: u64,
        out: &mut impl Write,
    ) -> anyhow::Result<Result<String, String>> {
        let log = match runtime.block_on(self.identity(store))? {
            Ok(log) => log,
            Err(why) => return Ok(Err(why)),
        };
        let newest = self
            .rpc
            .block_number()
            .context("Failed to ask the node for its newest block")?;
        if self.from_block > newest {
            anyhow::bail!(
                "--from-block {} is after the chain's newest block, {newest}",
                self.from_block
            );
        }
        let found = find_anchors(
            &self.rpc,
            &log.origin,
            self.contract.as_ref(),
            self.from_block,
            Some(newest),
        )
        .context("Failed to read the log's anchors from the chain")?;
        writeln!(
            out,
            "anchors of {} on chain {}, blocks {} to {newest}, {}: {} found",
            log.origin,
            self.chain_id,
            self.from_block,
            self.contract
                .map_or_else(|| "any contract".to_owned(), |c| format!("contract {c}")),
            found.len()
        )?;

        let mut current_size: Option<u64> = None;
        let (mut checked, mut ignored) = (0usize, 0usize);
        let mut first_failure: Option<String> = None;
        for anchor in &found {
            let place = format!("block {}, tx {}", anchor.block_number, anchor.tx_hash);
            let payload = match &anchor.payload {
                Ok(payload) => payload,
                Err(reason) => {
                    ignored += 1;
                    writeln!(out, "  {place}: ignored: not an anchor payload ({reason})")?;
                    continue;
                }
            };
            let size = payload.size.get();
            if !payload.signed_by(&log.origin, &log.keys) {
                if self.keys.is_some() {
                    ignored += 1;
                    writeln!(
                        out,
                        "  {place}, tree size {size}: ignored: not signed by the keys given (key {}): anyone can emit events",
                        payload.key_id
                    )?;
                } else {
                    // Harmless when the stored log has what it says; otherwise the database's
                    // word cannot tell a stranger's anchor from the log's own under a dropped key.
                    let outcome = self.check_anchor(
                        runtime,
                        store,
                        audited,
                        &mut current_size,
                        anchor,
                        payload,
                    )?;
                    match outcome {
                        Ok(detail) => {
                            ignored += 1;
                            writeln!(
                                out,
                                "  {place}, tree size {size}: ignored: signed by key {}, which the database does not list, and consistent with the stored log ({detail})",
                                payload.key_id
                            )?;
                        }
                        Err(contradiction) => {
                            let failure = format!(
                                "an anchor of the log's origin ({place}, tree size {size}) is signed by key {}, which the database does not list, and contradicts the stored log ({contradiction}): anyone may have emitted it, or the log's keys were replaced and the old ones dropped; name the log's keys with --log-key to ignore anchors of other keys",
                                payload.key_id
                            );
                            writeln!(out, "  {place}, tree size {size}: FAILED: {failure}")?;
                            first_failure.get_or_insert(failure);
                        }
                    }
                }
                continue;
            }
            checked += 1;
            let outcome =
                self.check_anchor(runtime, store, audited, &mut current_size, anchor, payload)?;
            match outcome {
                Ok(detail) => writeln!(out, "  {place}, tree size {size}: ok: {detail}")?,
                Err(failure) => {
                    writeln!(out, "  {place}, tree size {size}: FAILED: {failure}")?;
                    first_failure.get_or_insert(failure);
                }
            }
        }
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        Ok(match first_failure {
            Some(failure) => Err(failure),
            None if checked == 0 => Ok(format!(
                "ok: no anchor of the log on chain {} to check it against{}",
                self.chain_id,
                match ignored {
                    0 => String::new(),
                    n => format!(" ({n} anchor{} ignored)", plural(n)),
                }
            )),
            None => Ok(format!(
                "ok: the log holds every checkpoint of it anchored on chain {} ({checked} anchor{} checked{})",
                self.chain_id,
                plural(checked),
                match ignored {
                    0 => String::new(),
                    n => format!(", {n} ignored"),
                }
            )),
        })
    }

    /// One anchor signed by the log against the stored tree: what held, or what failed.
    fn check_anchor(
        &self,
        runtime: &Runtime,
        store: &Log,
        audited: u64,
        current_size: &mut Option<u64>,
        anchor: &FoundAnchor,
        payload: &Payload,
    ) -> anyhow::Result<Result<String, String>> {
        let size = payload.size.get();
        let anchored_in = format!(
            "anchored in tx {}, block {}, chain {}",
            anchor.tx_hash, anchor.block_number, self.chain_id
        );
        let mut note = "";
        if size > audited {
            // The audit read one snapshot; a checkpoint signed and anchored since may be beyond it.
            let now = match current_size {
                Some(now) => *now,
                None => {
                    let now = runtime
                        .block_on(store.tree_size())
                        .context("Failed to read the log's size")?
                        .get();
                    *current_size.insert(now)
                }
            };
            if size > now {
                return Ok(Err(format!(
                    "the log no longer reaches anchored size {size} ({anchored_in}): it was truncated after that checkpoint was published"
                )));
            }
            note = " (the log grew past the audited snapshot to reach it)";
        }
        let stored = runtime
            .block_on(store.root_hash(payload.size))
            .with_context(|| format!("Failed to compute the stored tree's root at size {size}"))?;
        if stored == payload.root {
            Ok(Ok(format!(
                "the stored tree has the anchored root {}{note}",
                stored.to_base64()
            )))
        } else {
            Ok(Err(format!(
                "the stored tree at size {size} has root {}, the anchor says {} ({anchored_in}): the log was rewritten after that checkpoint was published",
                stored.to_base64(),
                payload.root.to_base64()
            )))
        }
    }

    /// The log's origin and keys: the options' when given, else the database's (the stored
    /// checkpoints' first line, the `signing_keys` table). `Err` says why they cannot be known.
    async fn identity(&self, store: &Log) -> anyhow::Result<Result<LogIdentity, String>> {
        let keys = match &self.keys {
            Some(keys) => keys.clone(),
            None => {
                let keys = store
                    .signing_keys()
                    .await
                    .context("Failed to read the log's signing keys")?
                    .into_iter()
                    .map(|stored| stored.key)
                    .collect();
                NoteVerifiers::new(keys).context("The stored signing keys are ambiguous")?
            }
        };
        if keys.keys().is_empty() {
            return Ok(Err(
                "the database holds no signing key to tell the log's anchors from anyone else's: give --log-key"
                    .to_owned(),
            ));
        }
        let origin = match &self.origin {
            Some(origin) => Some(origin.clone()),
            None => {
                let note = store
                    .oldest_checkpoint()
                    .await
                    .context("Failed to read the log's checkpoints")?
                    .map(|checkpoint| checkpoint.note);
                match note {
                    Some(note) => Some(checkpoint_origin(&note)?),
                    None => key_origin(&keys),
                }
            }
        };
        Ok(match origin {
            Some(origin) => Ok(LogIdentity { origin, keys }),
            None => Err(
                "the log has no checkpoint to tell its origin, and its keys do not name one: give --origin"
                    .to_owned(),
            ),
        })
    }
}

/// The origin of a stored signed checkpoint (its first line).
fn checkpoint_origin(note: &str) -> anyhow::Result<Origin> {
    let note = Note::parse(note).context("A stored checkpoint is not a signed note")?;
    let checkpoint =
        Checkpoint::from_text(note.text()).context("A stored checkpoint is not a checkpoint")?;
    Ok(checkpoint.origin().clone())
}

/// The origin the keys' names give, when they all have one name (by convention, the origin).
fn key_origin(keys: &NoteVerifiers) -> Option<Origin> {
    let mut names = keys.keys().iter().map(|key| key.name().as_str());
    let first = names.next()?;
    if names.any(|name| name != first) {
        return None;
    }
    Origin::parse(first).ok()
}
