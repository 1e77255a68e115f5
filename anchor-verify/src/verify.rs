//! Checking anchors, shared by the worker's users: `tagtrail verify --rpc`, `tagtrail audit --rpc`,
//! `tagtrail anchors find` and trace-api.
//!
//! - [`verify_on_chain`] asks a node: the chain id, the transaction's receipt, that its block is the
//!   chain's block at that height, the event's commitment against the checkpoint (and its signature
//!   against the log's keys), and the confirmations.
//! - [`verify_self_contained`] needs no node: the stored block header and receipt trie proof are
//!   checked against a block hash the verifier trusts (from any node, explorer or its own client),
//!   which keeps working after nodes drop old blocks (EIP-4444).
//! - [`find_anchors`] lists a log's anchors from the chain alone (`eth_getLogs` by topic).
//!
//! The result of a verification is data: every check with its outcome, never an error.

use std::fmt;

use alloy_primitives::{Address, B256};
use ledger::bundle::AnchorRef;
use ledger::checkpoint::Origin;
use ledger::index::IndexCommitment;
use ledger::note::NoteVerifiers;
use ledger::{RootHash, TreeSize};
use serde::Serialize;
use serde_json::{Value, json};

use crate::format::{Payload, anchor_topic, origin_topic};
use crate::proof::{ProvenReceipt, ReceiptLog, ReceiptProof};
use crate::rpc::{self, BlockId, Rpc, RpcError};

/// What a check establishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorCheck {
    /// The node serves the anchor's chain.
    ChainId,
    /// The transaction has a successful receipt in the anchor's block.
    Receipt,
    /// That block is the chain's block at its height (not a block a reorg replaced).
    CanonicalBlock,
    /// The stored header hashes to the trusted block hash and the receipt's trie proof leads to
    /// its receipts root.
    ReceiptProof,
    /// The receipt holds the anchor event of the checkpoint's origin, size and root, from the
    /// anchor's contract.
    Commitment,
    /// The event's signature is by one of the log's keys.
    Signature,
    /// The block is deep enough.
    Confirmations,
}

impl fmt::Display for AnchorCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ChainId => "chain id",
            Self::Receipt => "receipt",
            Self::CanonicalBlock => "canonical block",
            Self::ReceiptProof => "receipt proof",
            Self::Commitment => "commitment",
            Self::Signature => "signature",
            Self::Confirmations => "confirmations",
        })
    }
}

pub use crate::Outcome;

/// Every check of one anchor, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AnchorReport {
    pub checks: Vec<(AnchorCheck, Outcome)>,
}

impl AnchorReport {
    fn push(&mut self, check: AnchorCheck, outcome: Outcome) {
        self.checks.push((check, outcome));
    }

    /// The outcome of a check, if it was made.
    pub fn outcome(&self, check: AnchorCheck) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|(name, _)| *name == check)
            .map(|(_, outcome)| outcome)
    }

    /// Whether every check passed (none failed or was skipped).
    pub fn is_valid(&self) -> bool {
        !self.checks.is_empty()
            && self
                .checks
                .iter()
                .all(|(_, outcome)| *outcome == Outcome::Passed)
    }

    /// The first failed check, if any.
    pub fn first_failure(&self) -> Option<(AnchorCheck, &str)> {
        self.checks
            .iter()
            .find_map(|(name, outcome)| match outcome {
                Outcome::Failed(reason) => Some((*name, reason.as_str())),
                _ => None,
            })
    }
}

/// The checkpoint an anchor must commit to.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    pub origin: &'a Origin,
    pub size: TreeSize,
    pub root: RootHash,
    /// What the checkpoint commits to of the verifiable index (its extension line), if anything.
    pub index: Option<IndexCommitment>,
    /// The log's keys, to check the anchor's signature (skipped without them).
    pub keys: Option<&'a NoteVerifiers>,
}

/// Where an anchor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnchorLocation {
    pub chain_id: u64,
    pub tx_hash: B256,
    pub block_number: u64,
    pub contract: Address,
}

/// Checks the anchor event among a receipt's logs against the expected checkpoint.
fn check_commitment(
    report: &mut AnchorReport,
    logs: &[ReceiptLog],
    contract: &Address,
    expected: &Expected<'_>,
) {
    let topic = origin_topic(expected.origin);
    let events: Vec<&ReceiptLog> = logs
        .iter()
        .filter(|log| log.address == *contract && log.topics.first() == Some(&anchor_topic()))
        .collect();
    let Some(event) = events.first() else {
        report.push(
            AnchorCheck::Commitment,
            Outcome::Failed(format!("the receipt has no anchor event from {contract}")),
        );
        report.push(
            AnchorCheck::Signature,
            Outcome::Skipped("no anchor event".to_owned()),
        );
        return;
    };
    let payload = Payload::decode(&event.data);
    let commitment = match (&payload, event.topics.get(1)) {
        (_, Some(found)) if *found != topic => Outcome::Failed(format!(
            "the event is for origin topic {found}, not {topic} (keccak256 of {:?})",
            expected.origin.as_str()
        )),
        (_, None) => Outcome::Failed("the event has no origin topic".to_owned()),
        (Err(error), _) => Outcome::Failed(format!("the event's payload: {error}")),
        (Ok(payload), _) if payload.size != expected.size => Outcome::Failed(format!(
            "the anchor is of tree size {}, the checkpoint's is {}",
            payload.size, expected.size
        )),
        (Ok(payload), _) if payload.root != expected.root => Outcome::Failed(format!(
            "the anchored root is {}, the checkpoint's is {} (size {})",
            payload.root, expected.root, expected.size
        )),
        (Ok(payload), _) if payload.index != expected.index => Outcome::Failed(format!(
            "the anchor commits to {}, the checkpoint to {} (size {})",
            describe_index(payload.index.as_ref()),
            describe_index(expected.index.as_ref()),
            expected.size
        )),
        (Ok(_), _) => Outcome::Passed,
    };
    report.push(AnchorCheck::Commitment, commitment);
    let signature = match (&payload, expected.keys) {
        (_, None) => Outcome::Skipped("no log key given".to_owned()),
        (Err(_), _) => Outcome::Skipped("the payload does not decode".to_owned()),
        (Ok(payload), Some(keys)) if payload.signed_by(expected.origin, keys) => Outcome::Passed,
        (Ok(payload), Some(_)) => Outcome::Failed(format!(
            "the signature (key id {}) is not by one of the log's keys",
            payload.key_id
        )),
    };
    report.push(AnchorCheck::Signature, signature);
}

/// Checks an anchor on chain through a node; `confirmations` is the depth required.
pub fn verify_on_chain(
    rpc: &Rpc,
    location: &AnchorLocation,
    expected: &Expected<'_>,
    confirmations: u64,
) -> AnchorReport {
    let mut report = AnchorReport::default();
    if let Err(error) = on_chain(rpc, location, expected, confirmations, &mut report) {
        let reason = format!("the node could not answer: {error}");
        let made: Vec<AnchorCheck> = report.checks.iter().map(|(name, _)| *name).collect();
        for check in [
            AnchorCheck::ChainId,
            AnchorCheck::Receipt,
            AnchorCheck::CanonicalBlock,
            AnchorCheck::Commitment,
            AnchorCheck::Signature,
            AnchorCheck::Confirmations,
        ] {
            if !made.contains(&check) {
                report.push(check, Outcome::Skipped(reason.clone()));
            }
        }
    }
    report
}

fn on_chain(
    rpc: &Rpc,
    location: &AnchorLocation,
    expected: &Expected<'_>,
    confirmations: u64,
    report: &mut AnchorReport,
) -> Result<(), RpcError> {
    const METHOD: &str = "eth_getTransactionReceipt";
    let chain_id = rpc.chain_id()?;
    if chain_id != location.chain_id {
        report.push(
            AnchorCheck::ChainId,
            Outcome::Failed(format!(
                "the node serves chain {chain_id}, the anchor is on chain {}",
                location.chain_id
            )),
        );
        return Ok(());
    }
    report.push(AnchorCheck::ChainId, Outcome::Passed);
    let Some(receipt) = rpc.receipt(&location.tx_hash)? else {
        report.push(
            AnchorCheck::Receipt,
            Outcome::Failed(format!(
                "the chain has no transaction {} in a block",
                location.tx_hash
            )),
        );
        return Ok(());
    };
    let block_number = rpc::parse_quantity(METHOD, rpc::field(METHOD, &receipt, "blockNumber")?)?;
    let block_hash = rpc::parse_b256(METHOD, rpc::field(METHOD, &receipt, "blockHash")?)?;
    let success = rpc::field(METHOD, &receipt, "status")?.as_str() == Some("0x1");
    report.push(
        AnchorCheck::Receipt,
        if !success {
            Outcome::Failed("the transaction failed (status 0)".to_owned())
        } else if block_number != location.block_number {
            Outcome::Failed(format!(
                "the transaction is in block {block_number}, the anchor says {}",
                location.block_number
            ))
        } else {
            Outcome::Passed
        },
    );
    let canonical = rpc.block_head(BlockId::Number(block_number))?;
    report.push(
        AnchorCheck::CanonicalBlock,
        match canonical {
            Some((_, hash)) if hash == block_hash => Outcome::Passed,
            Some((_, hash)) => Outcome::Failed(format!(
                "the chain's block {block_number} is {hash}, not the receipt's {block_hash}"
            )),
            None => Outcome::Failed(format!("the chain has no block {block_number}")),
        },
    );
    let logs = rpc_logs(METHOD, &receipt)?;
    check_commitment(report, &logs, &location.contract, expected);
    let latest = rpc.block_number()?;
    let depth = latest.saturating_add(1).saturating_sub(block_number);
    report.push(
        AnchorCheck::Confirmations,
        if depth >= confirmations {
            Outcome::Passed
        } else {
            Outcome::Failed(format!("{depth} confirmations, {confirmations} required"))
        },
    );
    Ok(())
}

fn rpc_logs(method: &'static str, receipt: &Value) -> Result<Vec<ReceiptLog>, RpcError> {
    let Some(logs) = rpc::field(method, receipt, "logs")?.as_array() else {
        return Err(RpcError::Malformed {
            method,
            detail: "logs is not a list".to_owned(),
        });
    };
    logs.iter().map(|log| rpc_log(method, log)).collect()
}

fn rpc_log(method: &'static str, log: &Value) -> Result<ReceiptLog, RpcError> {
    let topics = rpc::field(method, log, "topics")?
        .as_array()
        .ok_or(RpcError::Malformed {
            method,
            detail: "topics is not a list".to_owned(),
        })?
        .iter()
        .map(|topic| rpc::parse_b256(method, topic))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReceiptLog {
        address: rpc::parse_address(method, rpc::field(method, log, "address")?)?,
        topics,
        data: rpc::parse_bytes(method, rpc::field(method, log, "data")?)?.into(),
    })
}

/// Checks a self-contained anchor with no node: the header and receipt proof against `block_hash`
/// (which the verifier trusts), then the commitment and signature.
pub fn verify_self_contained(
    proof: &ReceiptProof,
    block_hash: B256,
    contract: &Address,
    expected: &Expected<'_>,
) -> (AnchorReport, Option<ProvenReceipt>) {
    let mut report = AnchorReport::default();
    match crate::proof::verify(proof, block_hash) {
        Ok(receipt) => {
            report.push(AnchorCheck::ReceiptProof, Outcome::Passed);
            report.push(
                AnchorCheck::Receipt,
                if receipt.success {
                    Outcome::Passed
                } else {
                    Outcome::Failed("the transaction failed (status 0)".to_owned())
                },
            );
            check_commitment(&mut report, &receipt.logs, contract, expected);
            (report, Some(receipt))
        }
        Err(error) => {
            report.push(
                AnchorCheck::ReceiptProof,
                Outcome::Failed(error.to_string()),
            );
            (report, None)
        }
    }
}

/// Whether a proven receipt holds the anchor event of `calldata` from `contract`: a successful
/// transaction whose logs include one from `contract` with the anchor topic, the calldata's origin
/// topic and the rest of the calldata as its data, byte for byte.
pub fn emits_anchor(receipt: &ProvenReceipt, contract: &Address, calldata: &[u8]) -> bool {
    receipt.success
        && calldata.len() >= 32
        && receipt.logs.iter().any(|log| {
            log.address == *contract
                && log.topics.len() == 2
                && log.topics[0] == anchor_topic()
                && log.topics[1].as_slice() == &calldata[..32]
                && log.data.as_ref() == &calldata[32..]
        })
}

/// Checks a stored anchor (an anchors row, or a bundle's reference) with no node, before it is
/// served: its receipt evidence verifies against its own block hash, the header is of its block
/// number, and the proven receipt holds exactly the anchor event of `checkpoint` (the log's signed
/// note: origin, size, root, key id and signature, byte for byte). What it cannot check without a
/// chain: that the block hash is the chain's, and the transaction hash (the receipt trie does not
/// hold it); verifiers with a node check both.
pub fn check_stored(anchor: &AnchorRef, checkpoint: &str) -> Result<(), String> {
    let (origin, payload) =
        Payload::of_checkpoint(checkpoint).map_err(|error| format!("the checkpoint: {error}"))?;
    let evidence = anchor.receipt.as_ref().ok_or("it keeps no receipt proof")?;
    let block_hash = anchor.block_hash.as_ref().ok_or("it has no block hash")?;
    // The same JSON as `ledger::bundle::ReceiptEvidence`.
    let proof = serde_json::to_value(evidence)
        .and_then(serde_json::from_value::<ReceiptProof>)
        .map_err(|error| format!("its receipt proof does not read: {error}"))?;
    let proven = crate::proof::verify(&proof, B256::from(*block_hash.as_bytes()))
        .map_err(|error| format!("its receipt proof does not verify: {error}"))?;
    if proven.block_number != anchor.block_number {
        return Err(format!(
            "its header is of block {}, it says block {}",
            proven.block_number, anchor.block_number
        ));
    }
    let contract = Address::from(*anchor.contract.as_bytes());
    if !emits_anchor(&proven, &contract, &payload.calldata(&origin)) {
        return Err(format!(
            "its receipt does not hold the anchor event of the log's checkpoint of {} from {contract}",
            payload.size
        ));
    }
    Ok(())
}

/// An anchor event found on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundAnchor {
    pub contract: Address,
    pub block_number: u64,
    pub block_hash: B256,
    pub tx_hash: B256,
    /// The payload, or why it does not decode.
    pub payload: Result<Payload, String>,
}

/// Lists the anchor events of a log (by its origin) between two blocks, from any contract or from
/// one: `eth_getLogs` with topics `[keccak256("tagtrail-anchor"), keccak256(origin)]`. A node that
/// refuses a range (many public nodes cap it) is asked again for halves of it.
pub fn find_anchors(
    rpc: &Rpc,
    origin: &Origin,
    contract: Option<&Address>,
    from_block: u64,
    to_block: Option<u64>,
) -> Result<Vec<FoundAnchor>, RpcError> {
    let to_block = match to_block {
        Some(block) => block,
        None => rpc.block_number()?,
    };
    let mut found = Vec::new();
    let mut ranges = vec![(from_block, to_block)];
    while let Some((from, to)) = ranges.pop() {
        if from > to {
            continue;
        }
        let mut filter = json!({
            "fromBlock": rpc::quantity(from),
            "toBlock": rpc::quantity(to),
            "topics": [anchor_topic().to_string(), origin_topic(origin).to_string()],
        });
        if let Some(contract) = contract {
            filter["address"] = Value::String(contract.to_string());
        }
        match rpc.logs(filter) {
            Ok(logs) => {
                for log in &logs {
                    found.push(found_anchor(log)?);
                }
            }
            Err(error) if error.is_node_error() && from < to => {
                let middle = from + (to - from) / 2;
                ranges.push((middle + 1, to));
                ranges.push((from, middle));
            }
            Err(error) => return Err(error),
        }
    }
    found.sort_by_key(|anchor| anchor.block_number);
    Ok(found)
}

fn found_anchor(log: &Value) -> Result<FoundAnchor, RpcError> {
    const METHOD: &str = "eth_getLogs";
    let parsed = rpc_log(METHOD, log)?;
    Ok(FoundAnchor {
        contract: parsed.address,
        block_number: rpc::parse_quantity(METHOD, rpc::field(METHOD, log, "blockNumber")?)?,
        block_hash: rpc::parse_b256(METHOD, rpc::field(METHOD, log, "blockHash")?)?,
        tx_hash: rpc::parse_b256(METHOD, rpc::field(METHOD, log, "transactionHash")?)?,
        payload: Payload::decode(&parsed.data).map_err(|error| error.to_string()),
    })
}

/// An index commitment in words, for a failed check.
fn describe_index(index: Option<&IndexCommitment>) -> String {
    match index {
        None => "no index".to_owned(),
        Some(index) => format!(
            "the index of {} entries with root {}",
            index.size,
            index.root.to_hex()
        ),
    }
}
