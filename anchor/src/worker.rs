//! One chain's anchoring loop: a state machine whose state is in PostgreSQL ([`crate::store`]).
//!
//! Each tick (every `poll`) the worker looks at the chain's unfinished anchor, if any:
//!
//! - a receipt for one of its transactions, from any of the chain's nodes: `included` once
//!   `quorum` nodes agree that the receipt's block is the chain's block at that height; an included
//!   anchor whose block is no longer that, or whose receipt is gone from every node, was reorged:
//!   back to `pending` (or `included` in its new block), counted;
//! - deep enough on `quorum` nodes (`confirmations`, or at or below the `finalized` block): the
//!   block header and the receipt's trie proof are built and checked against the agreed block
//!   hash, and the *proven* receipt decides: `confirmed` (it holds the anchor's event), or
//!   `reverted` (it failed). What a node's `eth_getTransactionReceipt` says about the status counts
//!   for nothing: a lying `0x0` is caught by the proof and counted as a disagreement;
//! - no receipt: the newest transaction is sent again if the node does not know it (dropped,
//!   reorged out, or sent just before a crash), and replaced with fees 12.5 % higher when it has
//!   waited `bump_after` (geth wants at least 10 % on both the fee cap and the tip), never above the
//!   fee cap; `abandoned` only when `quorum` nodes say the nonce is used and no node has a receipt,
//!   a mined transaction or an anchor event of any of ours since the last confirmed anchor.
//!
//! With nothing unfinished and `interval` passed since the last anchor, it anchors the newest
//! checkpoint if the tree grew past the last live anchor: it signs the transaction, records it,
//! then sends it. After a reverted anchor it anchors the newest checkpoint again (even the same
//! one), waiting `interval` doubled for each revert in a row (at most a day), so a real fault
//! cannot burn fees every tick. Every transaction of one anchor has the anchor's nonce, so at most
//! one is ever mined: a checkpoint is never paid for twice on one chain, whatever restarts, reorgs,
//! bumps and workers sharing one database happen.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::format::{Payload, contract_code, contract_runtime};
use crate::metrics::{Event, Metrics};
use crate::proof::{self, ProvenReceipt, ReceiptProof};
use crate::rpc::{self, BlockId, Rpc, RpcError};
use crate::store::{Anchor, AnchorStore, Attempt, ChainKey, Inclusion, StoreError};
use crate::tx::{Eip1559, Signer};
pub use crate::verify::emits_anchor;
use ledger_store::StoredCheckpoint;

/// When an included anchor counts as final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// This many blocks, its own included (1 = in the newest block).
    Confirmations(u64),
    /// At or below the chain's `finalized` block.
    Finalized,
}

/// Everything one chain's worker needs, checked.
#[derive(Debug, Clone)]
pub struct ChainSettings {
    pub name: String,
    pub rpc: Rpc,
    pub chain_id: u64,
    pub signer: Arc<Signer>,
    /// `None`: the contract the signer's first transaction creates (deployed if missing).
    pub contract: Option<Address>,
    pub interval: Duration,
    pub poll: Duration,
    pub finality: Finality,
    /// The most the worker offers per gas (`maxFeePerGas`), in wei.
    pub fee_cap: u128,
    pub bump_after: Duration,
    pub gas_limit: u64,
    /// More nodes of the same chain, asked for receipts and to agree on blocks (see `quorum`).
    pub witnesses: Vec<Rpc>,
    /// How many nodes, of `rpc` and the witnesses, must agree that the anchor's block is the
    /// chain's and deep enough before the anchor is recorded as included, confirmed or reverted,
    /// and that its nonce is used before it is abandoned. At least 1.
    pub quorum: usize,
    /// Readiness fails, and `tagtrail_anchor_stalled` is 1, while a checkpoint signed longer ago
    /// than this has no confirmed anchor on the chain.
    pub stall_after: Duration,
}

impl ChainSettings {
    /// Every node of the chain: the one transactions are sent through first, then the witnesses.
    fn nodes(&self) -> Vec<Rpc> {
        std::iter::once(self.rpc.clone())
            .chain(self.witnesses.iter().cloned())
            .collect()
    }
}

/// The most a run of reverted anchors spaces the next one.
const MAX_REVERT_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Why a chain's worker cannot run (configuration errors; the process reports them and stops).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "chain {chain}: the node at {endpoint} serves chain id {found}, the settings say {expected}"
    )]
    WrongChain {
        chain: String,
        endpoint: String,
        expected: u64,
        found: u64,
    },
    #[error(
        "chain {chain}: the code at {contract} is not the tagtrail anchor contract (anchor-verify/contract/anchor.evm)"
    )]
    NotTheContract { chain: String, contract: Address },
    #[error(
        "chain {chain}: there is no contract at {contract}, and the key {sender} has sent {nonce} transactions, so the worker cannot deploy it there: deploy it (`anchor deploy`) and set `contract`"
    )]
    NoContract {
        chain: String,
        contract: Address,
        sender: Address,
        nonce: u64,
    },
    #[error(
        "chain {chain}: the chain has no `finalized` block, so `finality = \"finalized\"` cannot work there"
    )]
    NoFinalizedBlock { chain: String },
    #[error("chain {chain}: the contract deployment failed: {reason}")]
    Deploy { chain: String, reason: String },
    #[error(
        "chain {chain}: a quorum of {quorum} cannot be met by {nodes} nodes (rpc_url and witness_rpc_urls)"
    )]
    Quorum {
        chain: String,
        quorum: usize,
        nodes: usize,
    },
    #[error("chain {chain}: the anchor contract could not be signed for")]
    Sign { chain: String },
}

/// Why a tick stopped early (retried on the next tick, with backoff).
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("the anchor records could not be read or written")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// What a tick did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Nothing to do (no checkpoint, tree did not grow, interval not over, halted).
    Idle,
    /// A new anchor was signed, recorded and sent.
    Sent { tree_size: u64, tx_hash: B256 },
    /// The unfinished anchor is waiting (pending, or included and not yet deep enough).
    Waiting,
    /// The unfinished anchor was confirmed.
    Confirmed { tree_size: u64 },
}

/// One chain's worker.
#[derive(Debug)]
pub struct ChainWorker {
    settings: ChainSettings,
    key: ChainKey,
    store: AnchorStore,
    metrics: Arc<Metrics>,
}

const GWEI: u128 = 1_000_000_000;

impl ChainWorker {
    /// Checks the chain (its id, the contract's code; deploys the contract at the signer's default
    /// address if it is missing there) and returns the worker. RPC errors are retried until
    /// `cancel`; configuration errors are returned.
    pub async fn start(
        settings: ChainSettings,
        store: AnchorStore,
        metrics: Arc<Metrics>,
        cancel: &CancellationToken,
    ) -> Result<Option<Self>, StartError> {
        metrics.register_chain(&settings.name);
        let mut backoff = backoff(settings.poll);
        loop {
            match check_chain(&settings).await {
                Ok(Ok(contract)) => {
                    let key = ChainKey {
                        name: settings.name.clone(),
                        chain_id: settings.chain_id,
                        contract,
                        sender: settings.signer.address(),
                    };
                    tracing::info!(
                        chain = %settings.name,
                        node = settings.rpc.endpoint(),
                        %contract,
                        sender = %key.sender,
                        "anchoring on this chain"
                    );
                    return Ok(Some(Self {
                        settings,
                        key,
                        store,
                        metrics,
                    }));
                }
                Ok(Err(error)) => return Err(error),
                Err(error) => {
                    metrics.count(&settings.name, Event::RpcError);
                    let wait = backoff.next_delay();
                    tracing::warn!(
                        chain = %settings.name,
                        error = %error,
                        retry_in = ?wait,
                        "cannot reach the chain yet"
                    );
                    tokio::select! {
                        () = cancel.cancelled() => return Ok(None),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// The chain, contract and sender this worker anchors with.
    pub fn key(&self) -> &ChainKey {
        &self.key
    }

    /// Ticks every `poll` until `cancel`, backing off (up to a minute) while ticks fail.
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = backoff(self.settings.poll);
        loop {
            let wait = match self.tick().await {
                Ok(progress) => {
                    backoff.reset();
                    if progress != Progress::Idle && progress != Progress::Waiting {
                        tracing::debug!(chain = %self.key.name, ?progress, "tick");
                    }
                    self.settings.poll
                }
                Err(error) => {
                    if matches!(error, TickError::Rpc(_)) {
                        self.metrics.count(&self.key.name, Event::RpcError);
                    }
                    let wait = backoff.next_delay();
                    tracing::warn!(
                        chain = %self.key.name,
                        error = %service_kit::ErrorChain(&error),
                        retry_in = ?wait,
                        "anchoring tick failed"
                    );
                    wait
                }
            };
            if let Err(error) = self.refresh_gauges().await {
                tracing::warn!(chain = %self.key.name, error = %service_kit::ErrorChain(&error), "failed to read the anchor gauges");
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn refresh_gauges(&self) -> Result<(), StoreError> {
        let counts = self.store.counts(&self.key).await?;
        let (entries, seconds) = self.store.lag(&self.key).await?;
        self.metrics
            .state(&self.key.name, &counts, entries, seconds);
        let stalled = seconds > self.settings.stall_after.as_secs_f64();
        if stalled && !self.metrics.stalled_chains().contains(&self.key.name) {
            tracing::error!(
                chain = %self.key.name,
                lag_seconds = seconds,
                lag_entries = entries,
                "anchoring on this chain has stalled: a checkpoint this old has no confirmed anchor"
            );
        }
        self.metrics.set_stalled(&self.key.name, stalled);
        Ok(())
    }

    /// One step of the state machine.
    pub async fn tick(&self) -> Result<Progress, TickError> {
        if let Some((anchor, attempts)) = self.store.open_anchor(&self.key).await? {
            return self.advance(anchor, attempts).await;
        }
        if let Some(last) = self.store.last_anchor(&self.key).await? {
            let wait = if last.state == crate::store::State::Reverted {
                let run = self.store.reverted_run(&self.key).await?;
                revert_wait(self.settings.interval, run)
            } else {
                self.settings.interval
            };
            if last.age_seconds < wait.as_secs_f64() {
                return Ok(Progress::Idle);
            }
        }
        let Some(checkpoint) = self.store.newest_checkpoint().await? else {
            return Ok(Progress::Idle);
        };
        let anchored = self
            .store
            .anchored_size(&self.key, checkpoint.size.get())
            .await?;
        if anchored.is_some_and(|size| checkpoint.size.get() <= size) {
            return Ok(Progress::Idle);
        }
        self.anchor_new(&checkpoint).await
    }

    async fn anchor_new(&self, checkpoint: &StoredCheckpoint) -> Result<Progress, TickError> {
        let (origin, payload) = Payload::of_checkpoint(&checkpoint.note).map_err(|error| {
            TickError::Invalid(format!("checkpoint {}: {error}", checkpoint.size))
        })?;
        let calldata = payload.calldata(&origin);
        let sender = self.key.sender;
        let (nonce, base_fee, suggested_tip) = self
            .settings
            .rpc
            .run(move |rpc| {
                Ok((
                    rpc.transaction_count(&sender, "pending")?,
                    base_fee(rpc)?,
                    rpc.max_priority_fee()?,
                ))
            })
            .await?;
        let Some((max_fee, tip)) = self.initial_fees(base_fee, suggested_tip) else {
            return Ok(Progress::Idle);
        };
        let attempt = self.sign(nonce, max_fee, tip, calldata.clone())?;
        let Some(_) = self
            .store
            .create(&self.key, checkpoint, &calldata, nonce, &attempt)
            .await?
        else {
            return Ok(Progress::Idle);
        };
        tracing::info!(
            chain = %self.key.name,
            tree_size = checkpoint.size.get(),
            nonce,
            tx = %attempt.tx_hash,
            max_fee_gwei = max_fee as f64 / GWEI as f64,
            "anchoring checkpoint"
        );
        self.send(&attempt).await?;
        Ok(Progress::Sent {
            tree_size: checkpoint.size.get(),
            tx_hash: attempt.tx_hash,
        })
    }

    fn initial_fees(&self, base_fee: u128, suggested_tip: u128) -> Option<(u128, u128)> {
        let cap = self.settings.fee_cap;
        let tip = suggested_tip.min(cap);
        if base_fee.saturating_add(tip) > cap {
            self.metrics.count(&self.key.name, Event::FeeCapped);
            tracing::warn!(
                chain = %self.key.name,
                base_fee_gwei = base_fee as f64 / GWEI as f64,
                cap_gwei = cap as f64 / GWEI as f64,
                "the fee cap holds the anchor back: the base fee plus tip is above it"
            );
            return None;
        }
        Some(((2 * base_fee).saturating_add(tip).min(cap), tip))
    }

    fn sign(
        &self,
        nonce: u64,
        max_fee: u128,
        tip: u128,
        data: Vec<u8>,
    ) -> Result<Attempt, TickError> {
        let signed = self
            .settings
            .signer
            .sign(&Eip1559 {
                chain_id: self.settings.chain_id,
                nonce,
                max_priority_fee_per_gas: tip,
                max_fee_per_gas: max_fee,
                gas_limit: self.settings.gas_limit,
                to: Some(self.key.contract),
                data,
            })
            .map_err(|error| TickError::Invalid(error.to_string()))?;
        Ok(Attempt {
            tx_hash: signed.hash,
            raw: signed.raw,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            age_seconds: 0.0,
        })
    }

    /// Sends a recorded transaction. A node that already has it, or has mined it, or has moved
    /// on past its nonce, is not an error here: the next tick reads the chain.
    async fn send(&self, attempt: &Attempt) -> Result<(), TickError> {
        let raw = attempt.raw.clone();
        match self
            .settings
            .rpc
            .run(move |rpc| rpc.send_raw_transaction(&raw))
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if error.is_node_error() => {
                tracing::info!(
                    chain = %self.key.name,
                    tx = %attempt.tx_hash,
                    answer = error.node_message().unwrap_or_default(),
                    "the node did not take the transaction"
                );
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn advance(&self, anchor: Anchor, attempts: Vec<Attempt>) -> Result<Progress, TickError> {
        let hashes = hashes_of(&attempts);
        let found = self
            .on_nodes(move |nodes| find_receipt(nodes, &hashes))
            .await?;
        match found {
            // A receipt too few nodes give is no receipt for an anchor not yet in a block: it is
            // followed as pending (sent again, its fees bumped), so an invented receipt cannot
            // hold it back. An included anchor waits for its nodes to agree again instead.
            Some(found) if found.support >= self.settings.quorum || anchor.block_hash.is_some() => {
                self.advance_included(&anchor, &found).await
            }
            Some(found) => {
                if found.rival_claims > 0 {
                    self.disagreement(
                        &anchor,
                        &format!(
                            "the chain's nodes gave {} different receipts of the anchor's transactions",
                            found.rival_claims + 1
                        ),
                    );
                }
                self.advance_pending(anchor, attempts).await
            }
            None => self.advance_pending(anchor, attempts).await,
        }
    }

    /// Runs a blocking call over every node of the chain.
    async fn on_nodes<T, F>(&self, call: F) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: FnOnce(&[Rpc]) -> Result<T, RpcError> + Send + 'static,
    {
        let nodes = self.settings.nodes();
        self.settings.rpc.run(move |_| call(&nodes)).await
    }

    /// Counts and logs what one node said that the others (or the block's hashes) contradict.
    fn disagreement(&self, anchor: &Anchor, what: &str) {
        self.metrics.count(&self.key.name, Event::NodeDisagreement);
        tracing::warn!(
            chain = %self.key.name,
            tree_size = anchor.tree_size,
            "a node's answer was contradicted: {what}"
        );
    }

    async fn advance_included(
        &self,
        anchor: &Anchor,
        found: &Found,
    ) -> Result<Progress, TickError> {
        const METHOD: &str = "eth_getTransactionReceipt";
        let receipt = &found.receipt;
        let attempt_hash = found.hash;
        let block_number =
            rpc::parse_quantity(METHOD, rpc::field(METHOD, receipt, "blockNumber")?)?;
        let block_hash = rpc::parse_b256(METHOD, rpc::field(METHOD, receipt, "blockHash")?)?;
        if found.rival_claims > 0 {
            self.disagreement(
                anchor,
                &format!(
                    "the chain's nodes gave {} different receipts of the anchor's transactions",
                    found.rival_claims + 1
                ),
            );
        }
        if found.support < self.settings.quorum {
            // Too few nodes give this receipt: one may have invented it, or the others lag.
            return Ok(Progress::Waiting);
        }
        let finality = self.settings.finality;
        let agreement = self
            .on_nodes(move |nodes| Ok(agreement(nodes, block_number, block_hash, finality)))
            .await?;
        if agreement.other_block > 0 {
            self.disagreement(
                anchor,
                &format!(
                    "{} of the chain's nodes have another block at height {block_number} than the receipt names (a reorg, or a lie)",
                    agreement.other_block
                ),
            );
        }
        if agreement.same_block < self.settings.quorum {
            // Too few nodes say the receipt's block is the chain's block at that height: a
            // reorg is under way, or a node lies. Look again next tick.
            return Ok(Progress::Waiting);
        }
        let gas_used = rpc::parse_quantity(METHOD, rpc::field(METHOD, receipt, "gasUsed")?)?;
        let price = rpc::parse_u128(METHOD, rpc::field(METHOD, receipt, "effectiveGasPrice")?)?;
        let inclusion = Inclusion {
            tx_hash: attempt_hash,
            block_number,
            block_hash,
            gas_used,
            fee_paid_wei: price.saturating_mul(u128::from(gas_used)),
        };
        if anchor.block_hash != Some(block_hash) {
            let moved = anchor.block_hash.is_some();
            self.store
                .set_included(anchor.id, &inclusion, moved)
                .await?;
            if moved {
                self.metrics.count(&self.key.name, Event::Reorg);
                tracing::warn!(
                    chain = %self.key.name,
                    tree_size = anchor.tree_size,
                    block = block_number,
                    "a reorg moved the anchor to another block"
                );
            } else {
                tracing::info!(
                    chain = %self.key.name,
                    tree_size = anchor.tree_size,
                    block = block_number,
                    tx = %attempt_hash,
                    "anchor included"
                );
            }
        }
        if agreement.deep < self.settings.quorum {
            return Ok(Progress::Waiting);
        }
        let (built, proven) = self
            .self_contained_proof(found, block_number, block_hash)
            .await?;
        let claimed = rpc::field(METHOD, receipt, "status")?.as_str() == Some("0x1");
        if claimed != proven.success {
            self.disagreement(
                anchor,
                &format!(
                    "the receipt of {attempt_hash} says {}, the block's receipt trie says {}",
                    if claimed { "success" } else { "failure" },
                    if proven.success { "success" } else { "failure" },
                ),
            );
        }
        if !proven.success {
            // The receipt trie does not say whose transaction sits at that index: that our nonce
            // was used in that very block, on a quorum of nodes, does.
            let (sender, nonce) = (self.key.sender, anchor.nonce);
            let spent = self
                .on_nodes(move |nodes| Ok(nonce_spent_in(nodes, &sender, nonce, block_number)))
                .await?;
            if spent < self.settings.quorum {
                self.disagreement(
                    anchor,
                    &format!(
                        "a failed receipt at block {block_number} was given for the anchor, but only {spent} nodes say its nonce was used in that block"
                    ),
                );
                return Ok(Progress::Waiting);
            }
            self.store.set_reverted(anchor.id, &inclusion).await?;
            self.metrics.count(&self.key.name, Event::Reverted);
            let run = self.store.reverted_run(&self.key).await?;
            tracing::error!(
                chain = %self.key.name,
                tree_size = anchor.tree_size,
                tx = %attempt_hash,
                block = block_number,
                contract = %self.key.contract,
                retry_in = ?revert_wait(self.settings.interval, run),
                "the anchor transaction reverted (proven from its block): the newest checkpoint will be anchored again"
            );
            return Ok(Progress::Idle);
        }
        if !emits_anchor(&proven, &self.key.contract, &anchor.calldata) {
            return Err(TickError::Invalid(format!(
                "the receipt of the anchor of checkpoint {} does not hold its event",
                anchor.tree_size
            )));
        }
        let proof =
            serde_json::to_value(&built).map_err(|error| TickError::Invalid(error.to_string()))?;
        self.store.set_confirmed(anchor.id, &proof).await?;
        self.metrics
            .confirmed(&self.key.name, gas_used, inclusion.fee_paid_wei);
        tracing::info!(
            chain = %self.key.name,
            tree_size = anchor.tree_size,
            block = block_number,
            tx = %attempt_hash,
            gas_used,
            "anchor confirmed"
        );
        Ok(Progress::Confirmed {
            tree_size: anchor.tree_size,
        })
    }

    /// Builds the block header and receipt proof from the node that gave the receipt (or, when
    /// its answer does not verify, from the others) and checks it against the agreed block hash:
    /// the receipt it proves is the block's own, whatever any node said.
    async fn self_contained_proof(
        &self,
        found: &Found,
        block_number: u64,
        block_hash: B256,
    ) -> Result<(ReceiptProof, ProvenReceipt), TickError> {
        const METHOD: &str = "eth_getTransactionReceipt";
        let index = rpc::parse_quantity(
            METHOD,
            rpc::field(METHOD, &found.receipt, "transactionIndex")?,
        )?;
        let first = found.node;
        let proven = self
            .on_nodes(move |nodes| {
                let mut failures = Vec::new();
                let order = std::iter::once(first).chain((0..nodes.len()).filter(|&i| i != first));
                for node in order.filter_map(|i| nodes.get(i)) {
                    match prove_on(node, block_number, block_hash, index) {
                        Ok(proven) => return Ok(Ok(proven)),
                        Err(failure) => failures.push(format!("{}: {failure}", node.endpoint())),
                    }
                }
                Ok(Err(failures.join("; ")))
            })
            .await?;
        proven.map_err(|failures| {
            TickError::Invalid(format!(
                "no node gave a receipt proof of block {block_number} that verifies: {failures}"
            ))
        })
    }

    async fn advance_pending(
        &self,
        anchor: Anchor,
        attempts: Vec<Attempt>,
    ) -> Result<Progress, TickError> {
        let newest = attempts
            .first()
            .ok_or_else(|| TickError::Invalid(format!("anchor {} has no transaction", anchor.id)))?
            .clone();
        if anchor.block_hash.is_some() {
            self.store.set_reorged_out(anchor.id).await?;
            self.metrics.count(&self.key.name, Event::Reorg);
            tracing::warn!(
                chain = %self.key.name,
                tree_size = anchor.tree_size,
                "a reorg took the anchor out of the chain: sending it again"
            );
        }
        let sender = self.key.sender;
        let hash = newest.tx_hash;
        let (mined_nonces, known, base_fee, suggested_tip) = self
            .settings
            .rpc
            .run(move |rpc| {
                Ok((
                    rpc.transaction_count(&sender, "latest")?,
                    rpc.transaction(&hash)?.is_some(),
                    base_fee(rpc)?,
                    rpc.max_priority_fee()?,
                ))
            })
            .await?;
        if mined_nonces > anchor.nonce {
            // The nonce is used. Ours if any node has a receipt or a mined transaction of ours,
            // or an anchor event sent by one of them: look on every node, now that the count is
            // known (a transaction mined between the two reads, or a node that hides it).
            let hashes = hashes_of(&attempts);
            let origin = Payload::of_checkpoint(&anchor.checkpoint)
                .map_err(|error| TickError::Invalid(format!("anchor {}: {error}", anchor.id)))?
                .0;
            let since = self.store.last_confirmed_block(&self.key).await?;
            let contract = self.key.contract;
            let nonce = anchor.nonce;
            let quorum = self.settings.quorum;
            let taken = self
                .on_nodes(move |nodes| {
                    Ok(taken_by_another(
                        nodes, &sender, nonce, &hashes, &origin, &contract, since, quorum,
                    ))
                })
                .await?;
            match taken {
                Taken::Ours => return Ok(Progress::Waiting),
                Taken::Unsure(why) => {
                    tracing::warn!(
                        chain = %self.key.name,
                        tree_size = anchor.tree_size,
                        nonce = anchor.nonce,
                        "the anchor's nonce looks used by another transaction, but {why}: not abandoning it yet"
                    );
                    return Ok(Progress::Waiting);
                }
                Taken::ByAnother => {}
            }
            self.store.set_abandoned(anchor.id).await?;
            tracing::error!(
                chain = %self.key.name,
                tree_size = anchor.tree_size,
                nonce = anchor.nonce,
                sender = %sender,
                "the anchor's nonce was used by a transaction that is not one of ours (is the key used elsewhere?); nothing was paid for it, it will be anchored again"
            );
            return Ok(Progress::Idle);
        }
        if newest.age_seconds >= self.settings.bump_after.as_secs_f64()
            && let Some((max_fee, tip)) = self.bumped_fees(&newest, base_fee, suggested_tip)
        {
            let attempt = self.sign(anchor.nonce, max_fee, tip, anchor.calldata.clone())?;
            self.store.add_attempt(anchor.id, &attempt).await?;
            self.metrics.count(&self.key.name, Event::FeeBump);
            tracing::info!(
                chain = %self.key.name,
                tree_size = anchor.tree_size,
                nonce = anchor.nonce,
                tx = %attempt.tx_hash,
                max_fee_gwei = max_fee as f64 / GWEI as f64,
                tip_gwei = tip as f64 / GWEI as f64,
                "the anchor waited too long: replacing it with higher fees"
            );
            self.send(&attempt).await?;
            return Ok(Progress::Waiting);
        }
        if !known {
            self.metrics.count(&self.key.name, Event::Resent);
            tracing::info!(
                chain = %self.key.name,
                tree_size = anchor.tree_size,
                tx = %newest.tx_hash,
                "the node does not know the anchor transaction (dropped, reorged out or never sent): sending it again"
            );
            self.send(&newest).await?;
        }
        Ok(Progress::Waiting)
    }

    /// The fees of a replacement: both at least 12.5 % above the old ones (geth needs 10 %), the
    /// fee cap at least twice the base fee plus the tip, never above the configured cap; `None`
    /// when the cap leaves no room for a valid replacement.
    fn bumped_fees(
        &self,
        old: &Attempt,
        base_fee: u128,
        suggested_tip: u128,
    ) -> Option<(u128, u128)> {
        let raise = |value: u128| value.saturating_add(value.div_ceil(8));
        let cap = self.settings.fee_cap;
        let tip = raise(old.max_priority_fee_per_gas).max(suggested_tip);
        let wanted = raise(old.max_fee_per_gas).max((2 * base_fee).saturating_add(tip));
        let max_fee = wanted.min(cap);
        let minimum = old
            .max_fee_per_gas
            .saturating_add(old.max_fee_per_gas.div_ceil(10));
        if max_fee < minimum || tip > max_fee {
            self.metrics.count(&self.key.name, Event::FeeCapped);
            tracing::warn!(
                chain = %self.key.name,
                max_fee_gwei = old.max_fee_per_gas as f64 / GWEI as f64,
                base_fee_gwei = base_fee as f64 / GWEI as f64,
                cap_gwei = cap as f64 / GWEI as f64,
                "the fee cap holds the anchor back: it cannot be replaced with higher fees"
            );
            return None;
        }
        Some((max_fee, tip))
    }
}

/// A receipt of one of an anchor's transactions, the node that gave it first, and how many nodes
/// gave the same.
#[derive(Debug)]
struct Found {
    node: usize,
    hash: B256,
    receipt: Value,
    /// Nodes that gave this receipt (the same transaction, block hash and index).
    support: usize,
    /// Other receipts other nodes gave.
    rival_claims: usize,
}

fn hashes_of(attempts: &[Attempt]) -> Vec<B256> {
    attempts.iter().map(|attempt| attempt.tx_hash).collect()
}

/// The receipt of one of `hashes` the most nodes give alike (the same transaction, block hash and
/// index), and how many give it: each node's first receipt of any of them is one claim, so a node
/// that invents a receipt is outvoted, and one that hides it is outvoted too. An error only when
/// no node answered at all.
fn find_receipt(nodes: &[Rpc], hashes: &[B256]) -> Result<Option<Found>, RpcError> {
    let mut first_error = None;
    let mut answered = false;
    // (claim, node that gave it first, receipt, support)
    let mut claims: Vec<(String, usize, B256, Value, usize)> = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let mut looked = Ok(None);
        for hash in hashes {
            looked = node
                .receipt(hash)
                .map(|receipt| receipt.map(|r| (*hash, r)));
            if !matches!(looked, Ok(None)) {
                break;
            }
        }
        match looked {
            Ok(Some((hash, receipt))) => {
                answered = true;
                let claim = format!(
                    "{hash} {} {}",
                    receipt.get("blockHash").unwrap_or(&Value::Null),
                    receipt.get("transactionIndex").unwrap_or(&Value::Null)
                );
                match claims.iter_mut().find(|(known, ..)| *known == claim) {
                    Some(found) => found.4 += 1,
                    None => claims.push((claim, index, hash, receipt, 1)),
                }
            }
            Ok(None) => answered = true,
            Err(error) => {
                tracing::warn!(node = node.endpoint(), error = %error, "a node did not answer");
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error
        && !answered
    {
        return Err(error);
    }
    let rival_claims = claims.len().saturating_sub(1);
    // The best-supported claim; on a tie, the one the earliest node gave.
    let best = claims
        .into_iter()
        .max_by(|a, b| a.4.cmp(&b.4).then(b.1.cmp(&a.1)));
    Ok(best.map(|(_, node, hash, receipt, support)| Found {
        node,
        hash,
        receipt,
        support,
        rival_claims,
    }))
}

/// How many nodes say the sender's nonce `nonce` was used in block `number` exactly (its count of
/// sent transactions is above `nonce` at that block and not at the one before): the check that
/// a failed receipt at depth is our transaction's, whatever index a node named.
fn nonce_spent_in(nodes: &[Rpc], sender: &Address, nonce: u64, number: u64) -> usize {
    nodes
        .iter()
        .filter(|node| {
            let at = |block: u64| node.transaction_count(sender, &rpc::quantity(block));
            match (at(number), number.checked_sub(1).map(at)) {
                (Ok(after), Some(Ok(before))) => after > nonce && before <= nonce,
                (Ok(after), None) => after > nonce,
                _ => false,
            }
        })
        .count()
}

/// How many nodes agree on a block.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Agreement {
    /// Nodes whose block at the height has the hash.
    same_block: usize,
    /// Of those, the nodes on which it is deep enough.
    deep: usize,
    /// Nodes whose block at the height has another hash.
    other_block: usize,
}

/// Asks every node for its block at `number` and, where it is `hash`, whether it is deep enough.
/// A node that does not answer counts for nothing.
fn agreement(nodes: &[Rpc], number: u64, hash: B256, finality: Finality) -> Agreement {
    let mut agreement = Agreement::default();
    for node in nodes {
        match node.block_head(BlockId::Number(number)) {
            Ok(Some((_, found))) if found == hash => agreement.same_block += 1,
            Ok(Some(_)) => {
                agreement.other_block += 1;
                continue;
            }
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(node = node.endpoint(), error = %error, "a node did not answer");
                continue;
            }
        }
        let deep = match finality {
            Finality::Confirmations(depth) => node
                .block_number()
                .map(|latest| latest.saturating_add(1) >= number.saturating_add(depth)),
            Finality::Finalized => node
                .block_head(BlockId::Finalized)
                .map(|finalized| finalized.is_some_and(|(finalized, _)| finalized >= number)),
        };
        if deep.unwrap_or(false) {
            agreement.deep += 1;
        }
    }
    agreement
}

/// The receipt proof of transaction `index` of block `number`, from one node, checked against
/// `hash`.
fn prove_on(
    node: &Rpc,
    number: u64,
    hash: B256,
    index: u64,
) -> Result<(ReceiptProof, ProvenReceipt), String> {
    let block = node
        .block(BlockId::Number(number))
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("block {number} is gone"))?;
    let receipts = node
        .block_receipts(number)
        .map_err(|error| error.to_string())?;
    let built = proof::build(&block, &receipts, index)
        .map_err(|error| format!("the receipt proof: {error}"))?;
    let proven = proof::verify(&built, hash)
        .map_err(|error| format!("the receipt proof does not verify: {error}"))?;
    Ok((built, proven))
}

/// Whether an anchor's used nonce went to a transaction that is not one of ours.
#[derive(Debug, PartialEq, Eq)]
enum Taken {
    /// One of ours is mined (a receipt, a transaction in a block, or its event).
    Ours,
    /// Not ours, on `quorum` nodes that answered every question.
    ByAnother,
    /// Too few nodes say so, or answered: why.
    Unsure(String),
}

/// Looks on every node for evidence that one of `hashes` (the anchor's transactions, nonce
/// `nonce`) is mined: a receipt, a transaction in a block, or an anchor event of `origin` on
/// `contract` since block `since` sent by one of them. `ByAnother` only when at least `quorum`
/// nodes answered everything, said the nonce is used, and found nothing of ours.
#[allow(clippy::too_many_arguments)]
fn taken_by_another(
    nodes: &[Rpc],
    sender: &Address,
    nonce: u64,
    hashes: &[B256],
    origin: &ledger::checkpoint::Origin,
    contract: &Address,
    since: u64,
    quorum: usize,
) -> Taken {
    let mut sure = 0;
    for node in nodes {
        let answer = (|| -> Result<Option<bool>, RpcError> {
            if node.transaction_count(sender, "latest")? <= nonce {
                return Ok(None);
            }
            for hash in hashes {
                if node.receipt(hash)?.is_some() {
                    return Ok(Some(true));
                }
                let in_block = node
                    .transaction(hash)?
                    .is_some_and(|tx| tx.get("blockHash").is_some_and(|block| !block.is_null()));
                if in_block {
                    return Ok(Some(true));
                }
            }
            let events = crate::verify::find_anchors(node, origin, Some(contract), since, None)?;
            Ok(Some(
                events.iter().any(|event| hashes.contains(&event.tx_hash)),
            ))
        })();
        match answer {
            Ok(Some(true)) => return Taken::Ours,
            Ok(Some(false)) => sure += 1,
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(node = node.endpoint(), error = %error, "a node did not answer");
            }
        }
    }
    if sure >= quorum {
        Taken::ByAnother
    } else {
        Taken::Unsure(format!(
            "only {sure} of the chain's nodes (quorum {quorum}) say so and find none of ours"
        ))
    }
}

/// How long after a run of `run` reverted anchors the next one is sent: `interval` doubled for each
/// revert after the first, at most [`MAX_REVERT_WAIT`] (or `interval`, if that is longer).
fn revert_wait(interval: Duration, run: u32) -> Duration {
    let doublings = run.saturating_sub(1).min(20);
    interval
        .saturating_mul(1 << doublings)
        .min(MAX_REVERT_WAIT.max(interval))
}

/// The base fee of the next block, from the newest block's `baseFeePerGas` (0 on a chain without
/// EIP-1559, where the tip is the whole price).
fn base_fee(rpc: &Rpc) -> Result<u128, RpcError> {
    const METHOD: &str = "eth_getBlockByNumber";
    let block = rpc.block(BlockId::Latest)?.ok_or(RpcError::Malformed {
        method: METHOD,
        detail: "no latest block".to_owned(),
    })?;
    match block.get("baseFeePerGas") {
        Some(fee) => rpc::parse_u128(METHOD, fee),
        None => Ok(0),
    }
}

/// Checks the node's chain id and the contract (deploying it at the default address if needed);
/// the outer error is a reachability problem (retried), the inner one a configuration error.
async fn check_chain(settings: &ChainSettings) -> Result<Result<Address, StartError>, RpcError> {
    let settings = settings.clone();
    settings
        .rpc
        .clone()
        .run(move |rpc| {
            let found = rpc.chain_id()?;
            if found != settings.chain_id {
                return Ok(Err(StartError::WrongChain {
                    chain: settings.name.clone(),
                    endpoint: rpc.endpoint().to_owned(),
                    expected: settings.chain_id,
                    found,
                }));
            }
            for witness in &settings.witnesses {
                match witness.chain_id() {
                    Ok(found) if found != settings.chain_id => {
                        return Ok(Err(StartError::WrongChain {
                            chain: settings.name.clone(),
                            endpoint: witness.endpoint().to_owned(),
                            expected: settings.chain_id,
                            found,
                        }));
                    }
                    Ok(_) => {}
                    // A witness that is down counts for nothing until it is back.
                    Err(error) => tracing::warn!(
                        chain = %settings.name,
                        node = witness.endpoint(),
                        error = %error,
                        "a witness node cannot be reached"
                    ),
                }
            }
            if settings.quorum == 0 || settings.quorum > settings.witnesses.len() + 1 {
                return Ok(Err(StartError::Quorum {
                    chain: settings.name.clone(),
                    quorum: settings.quorum,
                    nodes: settings.witnesses.len() + 1,
                }));
            }
            if settings.finality == Finality::Finalized
                && rpc.block_head(BlockId::Finalized)?.is_none()
            {
                return Ok(Err(StartError::NoFinalizedBlock {
                    chain: settings.name.clone(),
                }));
            }
            let sender = settings.signer.address();
            let contract = settings
                .contract
                .unwrap_or_else(|| crate::format::create_address(&sender, 0));
            let code = rpc.code(&contract)?;
            if code == contract_runtime() {
                return Ok(Ok(contract));
            }
            if !code.is_empty() {
                return Ok(Err(StartError::NotTheContract {
                    chain: settings.name.clone(),
                    contract,
                }));
            }
            let nonce = rpc.transaction_count(&sender, "latest")?;
            if settings.contract.is_some() || nonce > 0 {
                return Ok(Err(StartError::NoContract {
                    chain: settings.name.clone(),
                    contract,
                    sender,
                    nonce,
                }));
            }
            match deploy_contract(
                rpc,
                &settings.signer,
                settings.fee_cap,
                Duration::from_secs(120),
            ) {
                Ok(deployed) if deployed == contract => Ok(Ok(contract)),
                Ok(deployed) => Ok(Err(StartError::Deploy {
                    chain: settings.name.clone(),
                    reason: format!("it went to {deployed}, not {contract}"),
                })),
                Err(DeployError::Rpc(error)) => Err(error),
                Err(error) => Ok(Err(StartError::Deploy {
                    chain: settings.name.clone(),
                    reason: error.to_string(),
                })),
            }
        })
        .await
}

/// Why the contract could not be deployed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("the deployment transaction could not be signed")]
    Sign,
    #[error("the deployment transaction {0} reverted")]
    Reverted(B256),
    #[error(
        "the contract did not appear at {address} in time (transaction {tx}); look again later"
    )]
    Timeout { address: Address, tx: B256 },
}

/// Deploys the anchor contract with the signer's next nonce and waits (up to `wait`) until its code
/// is there; returns its address. The worker uses it for a key that has sent nothing yet, so that
/// the contract is where [`crate::format::create_address`]`(sender, 0)` says: safe to repeat after a
/// crash, as only one transaction with nonce 0 can ever be mined.
pub fn deploy_contract(
    rpc: &Rpc,
    signer: &Signer,
    fee_cap: u128,
    wait: Duration,
) -> Result<Address, DeployError> {
    let chain_id = rpc.chain_id()?;
    let sender = signer.address();
    let nonce = rpc.transaction_count(&sender, "pending")?;
    let address = crate::format::create_address(&sender, nonce);
    let base_fee = base_fee(rpc)?;
    let max_fee = (2 * base_fee)
        .saturating_add(rpc.max_priority_fee()?)
        .min(fee_cap);
    let tip = rpc.max_priority_fee()?.min(max_fee);
    let signed = signer
        .sign(&Eip1559 {
            chain_id,
            nonce,
            max_priority_fee_per_gas: tip,
            max_fee_per_gas: max_fee,
            gas_limit: 100_000,
            to: None,
            data: contract_code(),
        })
        .map_err(|_| DeployError::Sign)?;
    tracing::info!(%address, tx = %signed.hash, "deploying the anchor contract");
    if let Err(error) = rpc.send_raw_transaction(&signed.raw) {
        if !error.is_node_error() {
            return Err(error.into());
        }
        tracing::info!(
            answer = error.node_message().unwrap_or_default(),
            "the node did not take the deployment"
        );
    }
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        if rpc.code(&address)? == contract_runtime() {
            return Ok(address);
        }
        if let Some(receipt) = rpc.receipt(&signed.hash)?
            && receipt.get("status").and_then(Value::as_str) != Some("0x1")
        {
            return Err(DeployError::Reverted(signed.hash));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(DeployError::Timeout {
        address,
        tx: signed.hash,
    })
}

/// Waits between failed attempts: from `poll` (at least 100 ms), doubling up to a minute, with
/// jitter.
fn backoff(poll: Duration) -> service_kit::backoff::Backoff {
    service_kit::backoff::Backoff::new(
        poll.max(Duration::from_millis(100)),
        Duration::from_secs(60),
    )
}
