//! `tagtrail anchors` and `tagtrail anchors find`: the anchor worker's records, and a log's anchors
//! read from a chain alone.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use anchor_verify::rpc::Rpc;
use anchor_verify::verify::{FoundAnchor, find_anchors};
use anyhow::Context;
use clap::{Args, Subcommand};
use ledger::checkpoint::Origin;
use ledger::note::NoteVerifiers;
use ledger_store::AnchorRecord;
use secrecy::SecretString;
use serde_json::json;

use super::verify::read_log_key;

/// How long one JSON-RPC call may take (an `eth_getLogs` over a wide range is the slow one).
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// List the anchors the anchor worker recorded, newest first (`find`: a log's anchors from a
/// chain alone).
///
/// One line per anchor: its state (pending, included, confirmed, reverted, abandoned), the chain
/// (the worker's name for it and its chain id), the transaction, its block, the anchored
/// checkpoint's tree size, and how long ago the worker started it. A role in tagtrail_reader is
/// enough. `tagtrail anchors find` reads a log's anchors from the chain instead, with no database.
#[derive(Debug, Args)]
#[command(subcommand_negates_reqs = true)]
pub struct AnchorsCommand {
    #[command(subcommand)]
    command: Option<AnchorsSubcommand>,
    /// PostgreSQL URL of the ledger database (a member of tagtrail_reader is enough).
    #[arg(
        long,
        env = "TAGTRAIL_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        required = true
    )]
    database_url: Option<String>,
    /// Show at most this many anchors, the newest.
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: u32,
    /// One JSON object per anchor and line, instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum AnchorsSubcommand {
    Find(FindCommand),
}

impl AnchorsCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if let Some(AnchorsSubcommand::Find(find)) = self.command {
            return find.run();
        }
        // Required by clap unless a subcommand is given.
        let url = self.database_url.context("--database-url is required")?;
        let anchors = super::ledger::runtime()?.block_on(async {
            let store = ledger_store::Reader::connect(&url).context("Invalid --database-url")?;
            store
                .anchor_records(i64::from(self.limit))
                .await
                .context("Failed to read the anchors")
        })?;
        let mut out = std::io::stdout().lock();
        if self.json {
            for anchor in &anchors {
                writeln!(out, "{}", anchor_json(anchor))?;
            }
        } else if anchors.is_empty() {
            writeln!(out, "no anchors recorded")?;
        } else {
            write_table(&mut out, &anchors)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn hash_text(bytes: Option<[u8; 32]>) -> Option<String> {
    bytes.map(|bytes| B256::from(bytes).to_string())
}

fn anchor_json(anchor: &AnchorRecord) -> serde_json::Value {
    json!({
        "id": anchor.id,
        "state": anchor.state,
        "chain": anchor.chain,
        "chainId": anchor.chain_id,
        "contract": Address::from(anchor.contract).to_string(),
        "txHash": hash_text(anchor.tx_hash),
        "blockNumber": anchor.block_number,
        "blockHash": hash_text(anchor.block_hash),
        "treeSize": anchor.tree_size,
        "gasUsed": anchor.gas_used,
        // A string: wei do not fit the integers every JSON reader takes exactly.
        "feePaidWei": anchor.fee_paid_wei,
        "reorgs": anchor.reorgs,
        "ageSeconds": anchor.age_seconds,
    })
}

fn write_table(out: &mut impl Write, anchors: &[AnchorRecord]) -> std::io::Result<()> {
    let dash = || "-".to_owned();
    let rows: Vec<[String; 6]> = anchors
        .iter()
        .map(|anchor| {
            [
                anchor.state.clone(),
                format!("{} ({})", anchor.chain, anchor.chain_id),
                hash_text(anchor.tx_hash).unwrap_or_else(dash),
                anchor
                    .block_number
                    .map_or_else(dash, |block| block.to_string()),
                anchor.tree_size.to_string(),
                age(anchor.age_seconds),
            ]
        })
        .collect();
    let header = ["STATE", "CHAIN", "TX", "BLOCK", "TREE SIZE", "AGE"].map(str::to_owned);
    let mut widths = header.clone().map(|title| title.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// `42s`, `5m 3s`, `2h 10m`, `3d 4h`.
pub(crate) fn age(seconds: f64) -> String {
    // Ages are never negative and far below u64::MAX seconds; `as` saturates anyway.
    let seconds = seconds.max(0.0) as u64;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {}s", seconds / 60, seconds % 60),
        3600..86400 => format!("{}h {}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d {}h", seconds / 86400, seconds % 86400 / 3600),
    }
}

/// List a log's anchors from a chain alone (no database): every anchor event of its origin.
///
/// Asks the node for the events with topics keccak256("tagtrail-anchor") and keccak256(ORIGIN)
/// (`eth_getLogs`; a node that refuses a wide range is asked for halves of it), from any contract
/// or from --contract, and prints each with its block, transaction, contract, tree size and root
/// (base64, as in a checkpoint). Anyone can emit such an event: with --log-key each anchor says
/// whether its checkpoint is signed by the log (`signed by the log`) or not (`NOT signed by the log:
/// ignore it, anyone can emit events`). Exit 0 when the search ran, whatever it found; 2 on usage
/// errors and when the node cannot be reached.
#[derive(Debug, Args)]
pub struct FindCommand {
    /// The chain's JSON-RPC URL (http:// or https://). Only its scheme and host are ever printed.
    #[arg(long = "rpc", value_name = "URL")]
    rpc: String,
    /// The log's origin, the first line of its checkpoints.
    #[arg(long, value_name = "ORIGIN")]
    origin: String,
    /// Only the events of this anchor contract (0x and 40 hex digits). Default: any contract.
    #[arg(long, value_name = "ADDR")]
    contract: Option<Address>,
    /// The log's checkpoint verifier key, `<name>+<key id>+<base64 key>` as `tagtrail keygen`
    /// prints it, or a file holding it, to tell the log's anchors from anyone else's. Repeat it
    /// for several keys (a key rotation).
    #[arg(long = "log-key", value_name = "KEY")]
    log_keys: Vec<String>,
    /// The first block searched.
    #[arg(long, value_name = "N", default_value_t = 0)]
    from_block: u64,
    /// The last block searched. Default: the chain's newest block.
    #[arg(long, value_name = "N")]
    to_block: Option<u64>,
    /// One JSON object per anchor and line, and no summary line.
    #[arg(long)]
    json: bool,
}

impl FindCommand {
    fn run(self) -> anyhow::Result<ExitCode> {
        let origin = Origin::parse(&self.origin).context("Invalid --origin")?;
        let keys = log_verifiers(&self.log_keys)?;
        let rpc = rpc_client(&self.rpc)?;
        let chain_id = rpc
            .chain_id()
            .context("Failed to ask the node for its chain id")?;
        let to_block = match self.to_block {
            Some(block) => block,
            None => rpc
                .block_number()
                .context("Failed to ask the node for its newest block")?,
        };
        if self.from_block > to_block {
            anyhow::bail!(
                "--from-block {} is after the last block searched, {to_block}",
                self.from_block
            );
        }
        let found = find_anchors(
            &rpc,
            &origin,
            self.contract.as_ref(),
            self.from_block,
            Some(to_block),
        )
        .context("Failed to read the anchor events from the chain")?;

        let mut out = std::io::stdout().lock();
        let (mut signed, mut not_signed) = (0, 0);
        for anchor in &found {
            let by_log = anchor
                .payload
                .as_ref()
                .ok()
                .zip(keys.as_ref())
                .map(|(payload, keys)| payload.signed_by(&origin, keys));
            match by_log {
                Some(true) => signed += 1,
                Some(false) => not_signed += 1,
                None => {}
            }
            if self.json {
                writeln!(out, "{}", found_json(anchor, chain_id, by_log))?;
            } else {
                writeln!(out, "{}", found_line(anchor, keys.is_some(), by_log))?;
            }
        }
        if !self.json {
            let range = format!("between blocks {} and {to_block}", self.from_block);
            let contract = self
                .contract
                .map(|contract| format!(" from contract {contract}"))
                .unwrap_or_default();
            let summary = match found.len() {
                0 => format!("no anchors of {origin} found {range}{contract}"),
                n => {
                    let signatures = if keys.is_some() {
                        format!(": {signed} signed by the log, {not_signed} not")
                    } else {
                        String::new()
                    };
                    format!(
                        "{n} anchor{} of {origin} found {range}{contract} on chain {chain_id}{signatures}",
                        if n == 1 { "" } else { "s" }
                    )
                }
            };
            writeln!(out, "{summary}")?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// One anchor found on chain, in a line.
fn found_line(anchor: &FoundAnchor, keys_given: bool, by_log: Option<bool>) -> String {
    let place = format!(
        "block {}  tx {}  contract {}",
        anchor.block_number, anchor.tx_hash, anchor.contract
    );
    match &anchor.payload {
        Err(reason) => {
            format!("{place}  not an anchor payload ({reason}): ignore it, anyone can emit events")
        }
        Ok(payload) => {
            let verdict = match by_log {
                Some(true) => "signed by the log".to_owned(),
                Some(false) => {
                    "NOT signed by the log: ignore it, anyone can emit events".to_owned()
                }
                None if keys_given => "signature not checked".to_owned(),
                None => "signature not checked (give --log-key)".to_owned(),
            };
            // What the anchored checkpoint commits to of the verifiable index (payload v2).
            let index = payload.index.map_or_else(String::new, |index| {
                format!("  index {} {}", index.size, index.root.to_base64())
            });
            format!(
                "{place}  tree size {}  root {}{index}  key {}  {verdict}",
                payload.size,
                payload.root.to_base64(),
                payload.key_id
            )
        }
    }
}

fn found_json(anchor: &FoundAnchor, chain_id: u64, by_log: Option<bool>) -> serde_json::Value {
    let mut value = json!({
        "chainId": chain_id,
        "blockNumber": anchor.block_number,
        "blockHash": anchor.block_hash.to_string(),
        "txHash": anchor.tx_hash.to_string(),
        "contract": anchor.contract.to_string(),
    });
    match &anchor.payload {
        Ok(payload) => {
            value["treeSize"] = json!(payload.size.get());
            value["root"] = json!(payload.root.to_base64());
            if let Some(index) = payload.index {
                value["indexSize"] = json!(index.size.get());
                value["indexRoot"] = json!(index.root.to_base64());
            }
            value["keyId"] = json!(payload.key_id.to_string());
            value["signedByLog"] = json!(by_log);
        }
        Err(reason) => value["payloadError"] = json!(reason),
    }
    value
}

/// A JSON-RPC client of the node at `url`, which must be an http:// or https:// URL.
pub(crate) fn rpc_client(url: &str) -> anyhow::Result<Rpc> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        anyhow::bail!("Invalid --rpc: expected an http:// or https:// URL");
    }
    Ok(Rpc::new(&SecretString::from(url.to_owned()), RPC_TIMEOUT))
}

/// The `--log-key` values as a key set; `None` when none was given.
pub(crate) fn log_verifiers(values: &[String]) -> anyhow::Result<Option<NoteVerifiers>> {
    if values.is_empty() {
        return Ok(None);
    }
    let keys = values
        .iter()
        .map(|value| read_log_key(value))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(NoteVerifiers::new(keys).context("Invalid --log-key")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_two_largest_units() {
        assert_eq!(age(0.4), "0s");
        assert_eq!(age(59.9), "59s");
        assert_eq!(age(61.0), "1m 1s");
        assert_eq!(age(7_260.0), "2h 1m");
        assert_eq!(age(3.0 * 86_400.0 + 7_200.0), "3d 2h");
        assert_eq!(age(-1.0), "0s");
    }

    #[test]
    fn an_anchor_of_an_indexed_checkpoint_shows_its_index_commitment() {
        use alloy_primitives::{Address, B256};
        use ledger::index::IndexCommitment;
        use ledger::{Hash, RootHash, TreeSize};

        let payload = |index: Option<IndexCommitment>| anchor_verify::format::Payload {
            size: TreeSize::from(360),
            root: RootHash::from_hash(Hash::from_bytes([1; 32])),
            index,
            key_id: ledger::note::KeyId::from_u32(7),
            signature: [0; 64],
        };
        let found = |payload| FoundAnchor {
            contract: Address::ZERO,
            block_number: 12,
            block_hash: B256::ZERO,
            tx_hash: B256::ZERO,
            payload: Ok(payload),
        };
        let index = IndexCommitment {
            size: TreeSize::from(358),
            root: Hash::from_bytes([2; 32]),
        };
        let indexed = found(payload(Some(index)));
        let line = found_line(&indexed, true, Some(true));
        assert!(
            line.contains(&format!(
                "tree size 360  root {}  index 358 {}  key",
                Hash::from_bytes([1; 32]).to_base64(),
                index.root.to_base64()
            )),
            "{line}"
        );
        let json = found_json(&indexed, 31_337, Some(true));
        assert_eq!(json["indexSize"], 358);
        assert_eq!(json["indexRoot"], index.root.to_base64());
        // A version 1 payload commits to no index: nothing is shown of one.
        let plain = found(payload(None));
        assert!(!found_line(&plain, true, Some(true)).contains("index"));
        assert!(
            found_json(&plain, 31_337, Some(true))
                .get("indexSize")
                .is_none()
        );
    }
}
