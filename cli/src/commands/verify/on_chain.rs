//! `tagtrail verify --rpc`: the anchors of a bundle's anchored checkpoint, looked up through a node.
//!
//! Offline, a bundle shows that its checkpoint is consistent with an anchored one signed by the
//! log, and says where that one was anchored; only the chain can say the anchor is there. Each
//! anchor is checked with `anchor::verify::verify_on_chain` and, when the bundle keeps the block
//! hash and the receipt's trie proof, so is that stored evidence (`verify_self_contained`),
//! against the node's block at that height: a verifier who trusts the node sees that the evidence
//! the bundle will still carry after nodes drop old receipts is real. The anchors of a provenance
//! bundle are shared by its events and looked up once.

use alloy_primitives::{Address, B256};
use anchor::proof::ReceiptProof;
use anchor::rpc::{BlockId, Rpc};
use anchor::verify::{
    self as anchor_verify, AnchorLocation, AnchorReport, Expected, verify_on_chain,
    verify_self_contained,
};
use anyhow::Context;
use ledger::bundle::{AnchorRef, AnchoredCheckpoint, BlockHash, Outcome, ReceiptEvidence};
use ledger::checkpoint::Checkpoint;
use ledger::note::{Note, NoteVerifiers};

use super::Skip;
use crate::commands::anchors::rpc_client;

/// `verify_on_chain` reports a call the node could not answer as the checks it left undone,
/// skipped for this reason. For the command that is a failure of the node (exit 2), not a verdict
/// on the bundle.
const NODE_COULD_NOT_ANSWER: &str = "the node could not answer: ";

/// A node to look anchors up through.
#[derive(Debug)]
pub(super) struct Chain {
    rpc: Rpc,
    chain_id: u64,
    confirmations: u64,
}

impl Chain {
    /// A client of the node at `url`, which is asked for its chain id at once: a wrong or dead
    /// URL is an error (exit 2) before any file is checked.
    pub(super) fn connect(url: &str, confirmations: u64) -> anyhow::Result<Self> {
        let rpc = rpc_client(url)?;
        let chain_id = rpc
            .chain_id()
            .context("Failed to ask the node for its chain id")?;
        Ok(Self {
            rpc,
            chain_id,
            confirmations,
        })
    }

    /// Looks up every anchor of `anchored`: each must hold the anchored checkpoint's origin, size
    /// and root, signed by one of `keys`. An error when the node stops answering.
    fn check(
        &self,
        anchored: &AnchoredCheckpoint,
        keys: &NoteVerifiers,
    ) -> anyhow::Result<OnChain> {
        let checkpoint = Note::parse(&anchored.checkpoint)
            .map_err(|error| error.to_string())
            .and_then(|note| Checkpoint::from_text(note.text()).map_err(|error| error.to_string()));
        let checkpoint = match checkpoint {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                return Ok(OnChain::skipped(
                    Skip::Evidence,
                    format!(
                        "the anchored checkpoint is not a checkpoint ({error}): nothing to look for"
                    ),
                ));
            }
        };
        if anchored.anchors.is_empty() {
            return Ok(OnChain::skipped(
                Skip::Evidence,
                "the anchored checkpoint names no anchor",
            ));
        }
        let expected = Expected {
            origin: checkpoint.origin(),
            size: checkpoint.size(),
            root: *checkpoint.root(),
            keys: Some(keys),
        };
        let anchors = anchored
            .anchors
            .iter()
            .map(|reference| self.check_anchor(reference, &expected))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(self.conclude(anchors))
    }

    /// One anchor: on chain, then its stored evidence when the bundle keeps it.
    fn check_anchor(
        &self,
        reference: &AnchorRef,
        expected: &Expected<'_>,
    ) -> anyhow::Result<AnchorLookup> {
        let place = format!(
            "tx {} (chain {}, block {})",
            reference.tx_hash,
            reference.chain_id.get(),
            reference.block_number
        );
        if reference.chain_id.get() != self.chain_id {
            return Ok(AnchorLookup {
                verdict: AnchorVerdict::OtherChain {
                    chain: reference.chain_id.get(),
                    reason: format!(
                        "the node serves chain {}; this anchor is on chain {}",
                        self.chain_id,
                        reference.chain_id.get()
                    ),
                },
                place,
                checks: Vec::new(),
            });
        }
        let contract = Address::from(*reference.contract.as_bytes());
        let location = AnchorLocation {
            chain_id: reference.chain_id.get(),
            tx_hash: B256::from(*reference.tx_hash.as_bytes()),
            block_number: reference.block_number,
            contract,
        };
        let on_chain = verify_on_chain(&self.rpc, &location, expected, self.confirmations);
        if let Some(error) = node_failure(&on_chain) {
            anyhow::bail!("Failed to look up the anchor in {place}: {error}");
        }
        let mut checks = named(&on_chain, "");
        if let (Some(block_hash), Some(receipt)) = (&reference.block_hash, &reference.receipt) {
            let stored = self
                .check_stored(reference, block_hash, receipt, &contract, expected)
                .with_context(|| format!("Failed to look up the anchor in {place}"))?;
            checks.extend(stored);
        }
        let failure = checks.iter().find_map(|(check, outcome)| match outcome {
            Outcome::Failed(reason) => Some((check.clone(), reason.clone())),
            _ => None,
        });
        let verdict = match failure {
            Some((check, reason)) => AnchorVerdict::Failed { check, reason },
            None if on_chain.is_valid() => AnchorVerdict::Verified,
            None => AnchorVerdict::Unchecked("not every check could be made".to_owned()),
        };
        Ok(AnchorLookup {
            place,
            verdict,
            checks,
        })
    }

    /// The stored evidence: the node's block at the anchor's height is the stored block hash, and
    /// the stored header and receipt proof lead from that hash to a receipt holding the anchor.
    fn check_stored(
        &self,
        reference: &AnchorRef,
        block_hash: &BlockHash,
        receipt: &ReceiptEvidence,
        contract: &Address,
        expected: &Expected<'_>,
    ) -> anyhow::Result<Vec<(String, Outcome)>> {
        let number = reference.block_number;
        let stored_hash = B256::from(*block_hash.as_bytes());
        let canonical = self
            .rpc
            .block_head(BlockId::Number(number))
            .with_context(|| format!("Failed to ask the node for block {number}"))?;
        let mut checks = vec![(
            "stored block hash".to_owned(),
            match canonical {
                Some((_, hash)) if hash == stored_hash => Outcome::Passed,
                Some((_, hash)) => Outcome::Failed(format!(
                    "the chain's block {number} is {hash}, the bundle keeps {stored_hash}"
                )),
                None => Outcome::Failed(format!("the chain has no block {number}")),
            },
        )];
        // The same JSON as the anchor crate's `ReceiptProof` (`ledger::bundle::ReceiptEvidence`).
        let proof = serde_json::to_value(receipt).and_then(serde_json::from_value::<ReceiptProof>);
        match proof {
            Ok(proof) => {
                let (report, _) = verify_self_contained(&proof, stored_hash, contract, expected);
                checks.extend(named(&report, "stored "));
            }
            Err(error) => checks.push((
                "stored receipt proof".to_owned(),
                Outcome::Failed(format!(
                    "the bundle's receipt evidence does not read: {error}"
                )),
            )),
        }
        Ok(checks)
    }

    /// One outcome for every anchor: passed when one verified and none failed, failed naming the
    /// first failure, skipped when none could be checked.
    fn conclude(&self, anchors: Vec<AnchorLookup>) -> OnChain {
        let failure = anchors.iter().find_map(|anchor| match &anchor.verdict {
            AnchorVerdict::Failed { check, reason } => {
                Some(format!("the anchor in {}: {check}: {reason}", anchor.place))
            }
            _ => None,
        });
        let verified = |anchor: &AnchorLookup| matches!(anchor.verdict, AnchorVerdict::Verified);
        let other_chain = |anchor: &AnchorLookup| match anchor.verdict {
            AnchorVerdict::OtherChain { chain, .. } => Some(chain),
            _ => None,
        };
        let (outcome, skip) = if let Some(failure) = failure {
            (Outcome::Failed(failure), Skip::Evidence)
        } else if anchors.iter().any(verified) {
            (Outcome::Passed, Skip::Evidence)
        } else if anchors.iter().all(|anchor| other_chain(anchor).is_some()) {
            let mut chains: Vec<String> = Vec::new();
            for chain in anchors.iter().filter_map(other_chain) {
                if !chains.contains(&chain.to_string()) {
                    chains.push(chain.to_string());
                }
            }
            let plural = if chains.len() == 1 { "" } else { "s" };
            (
                Outcome::Skipped(format!(
                    "the node serves chain {}; the anchors are on chain{plural} {}",
                    self.chain_id,
                    chains.join(", ")
                )),
                Skip::OtherChain,
            )
        } else {
            (
                Outcome::Skipped("no anchor could be checked on chain".to_owned()),
                Skip::Evidence,
            )
        };
        OnChain {
            outcome,
            skip,
            anchors,
        }
    }
}

/// The first reason a check was skipped because the node could not answer, if any.
fn node_failure(report: &AnchorReport) -> Option<&str> {
    report.checks.iter().find_map(|(_, outcome)| match outcome {
        anchor_verify::Outcome::Skipped(reason) => reason.strip_prefix(NODE_COULD_NOT_ANSWER),
        _ => None,
    })
}

/// An anchor report's checks in plain words, as the bundle's checks are reported.
fn named(report: &AnchorReport, prefix: &str) -> Vec<(String, Outcome)> {
    report
        .checks
        .iter()
        .map(|(check, outcome)| {
            let outcome = match outcome {
                anchor_verify::Outcome::Passed => Outcome::Passed,
                anchor_verify::Outcome::Failed(reason) => Outcome::Failed(reason.clone()),
                anchor_verify::Outcome::Skipped(reason) => Outcome::Skipped(reason.clone()),
            };
            (format!("{prefix}{check}"), outcome)
        })
        .collect()
}

/// The `anchor on chain` check of one file and what each anchor gave.
#[derive(Debug)]
pub(super) struct OnChain {
    /// The check's outcome, for the bundle's report.
    pub(super) outcome: Outcome,
    /// Why it was skipped, as far as the exit status is concerned (when it was).
    pub(super) skip: Skip,
    /// Each anchor of the bundle, in its order (none when nothing was looked up).
    pub(super) anchors: Vec<AnchorLookup>,
}

impl OnChain {
    /// The check for a bundle's `anchored` member, through `chain` when a node was given.
    pub(super) fn of(
        anchored: Option<&AnchoredCheckpoint>,
        chain: Option<&Chain>,
        keys: &NoteVerifiers,
    ) -> anyhow::Result<Self> {
        match (anchored, chain) {
            (None, _) => Ok(Self::skipped(
                Skip::NotAnchored,
                "the bundle carries no anchored checkpoint",
            )),
            (Some(_), None) => Ok(Self::skipped(
                Skip::NoRpc,
                "no --rpc given: the anchors were not looked up on chain",
            )),
            (Some(anchored), Some(chain)) => chain.check(anchored, keys),
        }
    }

    fn skipped(skip: Skip, reason: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Skipped(reason.into()),
            skip,
            anchors: Vec::new(),
        }
    }
}

/// One anchor looked up: where it is, how it went, and each of its checks.
#[derive(Debug)]
pub(super) struct AnchorLookup {
    /// `tx 0x… (chain 31337, block 7)`.
    pub(super) place: String,
    pub(super) verdict: AnchorVerdict,
    /// Its checks in plain words: those made through the node, then those of the stored evidence
    /// (`stored ...`).
    pub(super) checks: Vec<(String, Outcome)>,
}

/// How one anchor went.
#[derive(Debug)]
pub(super) enum AnchorVerdict {
    /// Every check made through the node passed, and none of the stored evidence failed.
    Verified,
    /// A check failed: the first one.
    Failed { check: String, reason: String },
    /// The node serves another chain than the anchor's.
    OtherChain { chain: u64, reason: String },
    /// Some check could not be made, and none failed.
    Unchecked(String),
}
