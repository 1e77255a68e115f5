//! `tagtrail verify --rpc`: the anchors of a bundle's anchored checkpoint, looked up through a node.
//!
//! Offline, a bundle shows that its checkpoint is consistent with an anchored one signed by the
//! log, and says where that one was anchored; only the chain can say the anchor is there. Each
//! anchor is checked with `anchor_verify::verify::verify_on_chain` and, when the bundle keeps the block
//! hash and the receipt's trie proof, so is that stored evidence (`verify_self_contained`),
//! against the node's block at that height: a verifier who trusts the node sees that the evidence
//! the bundle will still carry after nodes drop old receipts is real. The anchors of a provenance
//! bundle are shared by its events and looked up once.
//!
//! The chain is also searched for every anchor of the log's origin (`find_anchors`, once per
//! run): an anchor signed by a trusted key whose root differs from one of the bundle's checkpoints
//! at the same tree size shows a split view (the `chain agrees` check fails, naming both), and an
//! unanchored bundle of a log the chain holds anchors for says so.

use std::cell::OnceCell;

use alloy_primitives::{Address, B256};
use anchor_verify::format::Payload;
use anchor_verify::proof::ReceiptProof;
use anchor_verify::rpc::{BlockId, Rpc};
use anchor_verify::verify::{
    AnchorCheck, AnchorLocation, AnchorReport, Expected, FoundAnchor, find_anchors,
    verify_on_chain, verify_self_contained,
};
use anyhow::Context;
use ledger::bundle::{
    AnchorRef, AnchoredCheckpoint, BlockHash, CheckName, Outcome, ReceiptEvidence, Report,
    TrustedKeys,
};
use ledger::checkpoint::Checkpoint;
use ledger::note::{Note, NoteVerifiers};

use super::Gap;
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
    /// The log's anchors on chain signed by a trusted key, looked up once per run.
    log_anchors: OnceCell<Vec<(FoundAnchor, Payload)>>,
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
            log_anchors: OnceCell::new(),
        })
    }

    /// Every anchor of the trusted log's origin on chain, from any contract, whose signature is
    /// by one of its keys (anyone can emit an event with the log's topics; only the log can sign
    /// its checkpoints).
    fn log_anchors(&self, trusted: &TrustedKeys) -> anyhow::Result<&[(FoundAnchor, Payload)]> {
        if let Some(found) = self.log_anchors.get() {
            return Ok(found);
        }
        let origin = trusted.log().origin();
        let found = find_anchors(&self.rpc, origin, None, 0, None)
            .context("Failed to search the chain for the log's anchors")?
            .into_iter()
            .filter_map(|anchor| {
                let payload = anchor.payload.clone().ok()?;
                payload
                    .signed_by(origin, trusted.log().keys())
                    .then_some((anchor, payload))
            })
            .collect();
        Ok(self.log_anchors.get_or_init(|| found))
    }

    /// The `chain agrees` check: no signed anchor of the log contradicts a checkpoint of the
    /// bundle (the bundle's and its anchored one, those that verify) at the same tree size.
    fn agrees(
        &self,
        checkpoints: &[Checkpoint],
        trusted: &TrustedKeys,
    ) -> anyhow::Result<(Outcome, Option<String>)> {
        let anchors = self.log_anchors(trusted)?;
        for checkpoint in checkpoints {
            let contradicting = anchors.iter().find(|(_, payload)| {
                payload.size == checkpoint.size() && payload.root != *checkpoint.root()
            });
            if let Some((anchor, payload)) = contradicting {
                return Ok((
                    Outcome::Failed(format!(
                        "split view: the bundle's checkpoint of {} has root {} at tree size {}; \
                         the log's anchor in tx {} (chain {}, block {}) has root {} at that size",
                        checkpoint.origin().as_str(),
                        checkpoint.root(),
                        checkpoint.size(),
                        anchor.tx_hash,
                        self.chain_id,
                        anchor.block_number,
                        payload.root
                    )),
                    None,
                ));
            }
        }
        let newest = anchors.iter().max_by_key(|(_, payload)| payload.size);
        let covering = newest.and_then(|(anchor, payload)| {
            checkpoints
                .iter()
                .any(|checkpoint| payload.size >= checkpoint.size())
                .then(|| {
                    format!(
                        "the chain holds an anchor of this log at tree size {} (tx {}, block {})",
                        payload.size, anchor.tx_hash, anchor.block_number
                    )
                })
        });
        Ok((Outcome::Passed, covering))
    }

    /// Looks up every anchor of `anchored`: each must hold the anchored checkpoint's origin, size
    /// and root, signed by one of `keys`. An error when the node stops answering.
    fn check(
        &self,
        anchored: &AnchoredCheckpoint,
        keys: &NoteVerifiers,
    ) -> anyhow::Result<AnchorsChecked> {
        let checkpoint = Note::parse(&anchored.checkpoint)
            .map_err(|error| error.to_string())
            .and_then(|note| Checkpoint::from_text(note.text()).map_err(|error| error.to_string()));
        let checkpoint = match checkpoint {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                return Ok(AnchorsChecked::skipped(
                    Gap::Evidence,
                    format!(
                        "the anchored checkpoint is not a checkpoint ({error}): nothing to look for"
                    ),
                ));
            }
        };
        if anchored.anchors.is_empty() {
            return Ok(AnchorsChecked::skipped(
                Gap::Evidence,
                "the anchored checkpoint names no anchor",
            ));
        }
        let expected = Expected {
            origin: checkpoint.origin(),
            size: checkpoint.size(),
            root: *checkpoint.root(),
            index: ledger::index::IndexCommitment::of_checkpoint(&checkpoint)
                .ok()
                .flatten(),
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
        let unconfirmed = matches!(
            on_chain.outcome(AnchorCheck::Confirmations),
            Some(Outcome::Failed(_))
        );
        let verdict = match failure {
            Some((check, reason)) => AnchorVerdict::Failed { check, reason },
            None if on_chain.is_valid() => AnchorVerdict::Verified,
            None if unconfirmed => AnchorVerdict::Unconfirmed,
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
    fn conclude(&self, anchors: Vec<AnchorLookup>) -> AnchorsChecked {
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
        let unconfirmed =
            |anchor: &AnchorLookup| matches!(anchor.verdict, AnchorVerdict::Unconfirmed);
        let (outcome, gap) = if let Some(failure) = failure {
            (Outcome::Failed(failure), Gap::Evidence)
        } else if anchors.iter().any(verified) {
            (Outcome::Passed, Gap::Evidence)
        } else if let Some(anchor) = anchors.iter().find(|anchor| unconfirmed(anchor)) {
            (
                Outcome::Skipped(format!(
                    "the anchor in {} is not {} blocks deep yet",
                    anchor.place, self.confirmations
                )),
                Gap::Unconfirmed,
            )
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
                Gap::OtherChain,
            )
        } else {
            (
                Outcome::Skipped("no anchor could be checked on chain".to_owned()),
                Gap::Evidence,
            )
        };
        AnchorsChecked {
            outcome,
            gap,
            anchors,
        }
    }
}

/// The first reason a check was skipped because the node could not answer, if any.
fn node_failure(report: &AnchorReport) -> Option<&str> {
    report.checks.iter().find_map(|(_, outcome)| match outcome {
        Outcome::Skipped(reason) => reason.strip_prefix(NODE_COULD_NOT_ANSWER),
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
                // Not deep enough yet is a wait, not a failure: the anchor is there.
                Outcome::Failed(reason) if *check == AnchorCheck::Confirmations => {
                    Outcome::Skipped(format!("not confirmed yet: {reason}"))
                }
                other => other.clone(),
            };
            (format!("{prefix}{check}"), outcome)
        })
        .collect()
}

/// The `anchor on chain` check of one file and what each anchor gave.
#[derive(Debug)]
pub(super) struct AnchorsChecked {
    /// The check's outcome, for the bundle's report.
    outcome: Outcome,
    /// Why it was skipped, as far as the exit status is concerned (when it was).
    pub(super) gap: Gap,
    /// Each anchor of the bundle, in its order (none when nothing was looked up).
    pub(super) anchors: Vec<AnchorLookup>,
}

impl AnchorsChecked {
    fn skipped(gap: Gap, reason: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Skipped(reason.into()),
            gap,
            anchors: Vec::new(),
        }
    }
}

/// The `anchor on chain` and `chain agrees` checks of one file.
#[derive(Debug)]
pub(super) struct OnChain {
    pub(super) anchors: AnchorsChecked,
    /// The `chain agrees` check's outcome.
    agrees: Outcome,
    /// Why that was skipped (when it was).
    pub(super) agrees_gap: Gap,
}

impl OnChain {
    /// The checks for a bundle's `checkpoint` and `anchored` member, through `chain` when a node
    /// was given.
    pub(super) fn of(
        checkpoint: &str,
        anchored: Option<&AnchoredCheckpoint>,
        chain: Option<&Chain>,
        trusted: &TrustedKeys,
    ) -> anyhow::Result<Self> {
        let Some(chain) = chain else {
            let anchors = match anchored {
                None => AnchorsChecked::skipped(
                    Gap::Unanchored,
                    "the bundle carries no anchored checkpoint",
                ),
                Some(_) => AnchorsChecked::skipped(
                    Gap::UncheckedAnchors,
                    "no --rpc given: the anchors were not looked up on chain",
                ),
            };
            return Ok(Self {
                anchors,
                agrees: Outcome::Skipped(
                    "no --rpc given: the chain was not searched for the log's anchors".to_owned(),
                ),
                agrees_gap: Gap::UncheckedAnchors,
            });
        };
        // The bundle's checkpoints that verify (a forged one fails its own check).
        let checkpoints: Vec<Checkpoint> = std::iter::once(checkpoint)
            .chain(anchored.map(|anchored| anchored.checkpoint.as_str()))
            .filter_map(|note| trusted.log().open_checkpoint(note).ok())
            .map(|verified| verified.checkpoint().clone())
            .collect();
        let (agrees, covering) = chain.agrees(&checkpoints, trusted)?;
        let anchors = match (anchored, covering) {
            // The chain already anchors this log at the bundle's size or beyond: an honest
            // bundle would prove its consistency with that anchor. Not a wait, and no --allow
            // accepts it.
            (None, Some(covering)) => AnchorsChecked::skipped(
                Gap::Evidence,
                format!(
                    "the bundle carries no anchored checkpoint, though {covering}: an honest \
                     log's bundle proves its consistency with it"
                ),
            ),
            (None, None) => AnchorsChecked::skipped(
                Gap::Unanchored,
                "the bundle carries no anchored checkpoint",
            ),
            (Some(anchored), _) => chain.check(anchored, trusted.log().keys())?,
        };
        // Passed or failed: with a node, the chain was searched.
        Ok(Self {
            anchors,
            agrees,
            agrees_gap: Gap::Evidence,
        })
    }

    /// Adds the file's `anchor on chain` and `chain agrees` checks to a report.
    pub(super) fn push_checks(&self, report: &mut Report) {
        report.push(CheckName::AnchorOnChain, self.anchors.outcome.clone());
        report.push(CheckName::ChainAgrees, self.agrees.clone());
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
    /// Every check passed but the block is not deep enough yet.
    Unconfirmed,
    /// Some check could not be made, and none failed.
    Unchecked(String),
}
