//! The worker's state machine against a real local chain, one tick at a time: normal anchoring,
//! intervals, fee bumps, the fee cap, dropped transactions, reorgs that drop or move the
//! transaction, a node that goes away, two chains, and what it publishes checked from the chain.

use std::time::Duration;

use alloy_primitives::B256;
use anchor::format::create_address;
use anchor::proof::ReceiptProof;
use anchor::store::State;
use anchor::verify::{
    AnchorCheck, AnchorLocation, Expected, Outcome, find_anchors, verify_on_chain,
    verify_self_contained,
};
use anchor::worker::{Finality, Progress};
use ledger::{RootHash, TreeSize};
use serde_json::json;

use crate::common::{Anvil, Ledger, Scene, metric, settings, worker};

/// The anchors of the test's database, as the worker's role reads them.
async fn anchors(ledger: &Ledger) -> Vec<anchor::store::Anchor> {
    let mut all = ledger.store().list(100).await.unwrap();
    all.reverse();
    all
}

/// The transaction of a tick that sent one, once the chain (mining a block per transaction) has
/// it in a block.
fn mined(anvil: &Anvil, progress: &Progress) -> B256 {
    let hash = sent_hash(progress);
    anvil.mined(&hash);
    hash
}

fn sent_hash(progress: &Progress) -> B256 {
    match progress {
        Progress::Sent { tx_hash, .. } => *tx_hash,
        other => panic!("expected a sent anchor, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_anchored_confirmed_and_checkable_from_the_chain_alone() {
    let Scene {
        anvil,
        ledger,
        worker,
        metrics,
        sender,
    } = Scene::on(Anvil::start(), |_| {}).await;
    // The worker deployed the contract as the key's first transaction.
    let contract = create_address(&sender, 0);
    assert_eq!(worker.key().contract, contract);
    assert_eq!(anvil.nonce(&sender), 1);

    // No checkpoint yet: nothing to do.
    assert_eq!(worker.tick().await.unwrap(), Progress::Idle);
    let checkpoint = ledger.add_checkpoint(10).await;
    let tx = mined(&anvil, &worker.tick().await.unwrap());
    // Automine put it in a block at once; 2 confirmations are needed, it has 1.
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    let stored = anchors(&ledger).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state, State::Included);
    anvil.mine(1);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 10 }
    );
    let confirmed = &anchors(&ledger).await[0];
    assert_eq!(confirmed.state, State::Confirmed);
    assert_eq!(confirmed.tx_hash, Some(tx));
    let gas = confirmed.gas_used.unwrap();
    assert!(gas <= 30_000, "an anchor used {gas} gas");
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_confirmed_total{chain=\"local\"}"),
        1.0
    );
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_gas_used_total{chain=\"local\"}"),
        gas as f64
    );
    // The tree did not grow: the next ticks do nothing, and the key sent exactly two transactions.
    assert_eq!(worker.tick().await.unwrap(), Progress::Idle);
    assert_eq!(anvil.nonce(&sender), 2);

    // From the chain alone: the origin finds the anchor, from any contract or this one.
    let rpc = anvil.rpc();
    for contract_filter in [None, Some(&contract)] {
        let found = find_anchors(&rpc, &ledger.origin, contract_filter, 0, None).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].tx_hash, tx);
        assert_eq!(found[0].contract, contract);
        let payload = found[0].payload.clone().unwrap();
        assert_eq!(payload.size.get(), 10);
        assert_eq!(payload.root, checkpoint.root);
        assert!(payload.signed_by(&ledger.origin, &ledger.keys()));
    }
    let other = ledger::checkpoint::Origin::parse("another.example/log").unwrap();
    assert!(
        find_anchors(&rpc, &other, None, 0, None)
            .unwrap()
            .is_empty()
    );

    // Verified through the node: every check passes.
    let keys = ledger.keys();
    let expected = Expected {
        origin: &ledger.origin,
        size: TreeSize::new(10).unwrap(),
        root: checkpoint.root,
        index: None,
        keys: Some(&keys),
    };
    let location = AnchorLocation {
        chain_id: anvil.chain_id,
        tx_hash: tx,
        block_number: confirmed.block_number.unwrap(),
        contract,
    };
    let report = verify_on_chain(&rpc, &location, &expected, 2);
    assert!(report.is_valid(), "{report:?}");
    // More confirmations than the chain has: that check fails, and says so.
    let report = verify_on_chain(&rpc, &location, &expected, 1000);
    assert!(matches!(
        report.outcome(AnchorCheck::Confirmations),
        Some(Outcome::Failed(reason)) if reason.contains("1000 required")
    ));
    // A checkpoint whose root differs from the anchored one fails the commitment.
    let forged = Expected {
        root: RootHash::from_bytes([0x77; 32]),
        ..expected.clone()
    };
    let report = verify_on_chain(&rpc, &location, &forged, 2);
    assert!(!report.is_valid());
    assert!(matches!(
        report.first_failure(),
        Some((AnchorCheck::Commitment, reason)) if reason.contains("anchored root")
    ));

    // Self-contained: the stored header and receipt proof verify from the block hash alone,
    // with the node gone.
    let proof: ReceiptProof = serde_json::from_value(confirmed.proof.clone().unwrap()).unwrap();
    let block_hash = confirmed.block_hash.unwrap();
    drop(anvil);
    let (report, receipt) = verify_self_contained(&proof, block_hash, &contract, &expected);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(
        receipt.unwrap().block_number,
        confirmed.block_number.unwrap()
    );
    let (report, _) = verify_self_contained(&proof, block_hash, &contract, &forged);
    assert!(matches!(
        report.first_failure(),
        Some((AnchorCheck::Commitment, _))
    ));
    let (report, _) = verify_self_contained(&proof, B256::repeat_byte(1), &contract, &expected);
    assert!(matches!(
        report.first_failure(),
        Some((AnchorCheck::ReceiptProof, _))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interval_spaces_anchors_and_the_newest_checkpoint_is_taken() {
    let Scene {
        anvil,
        ledger,
        worker,
        metrics: _,
        sender: _,
    } = Scene::on(Anvil::start(), |settings| {
        settings.interval = Duration::from_secs(3600);
        settings.finality = Finality::Confirmations(1);
    })
    .await;
    ledger.add_checkpoint(5).await;
    ledger.add_checkpoint(8).await;
    // The newest checkpoint, not each one.
    let sent = worker.tick().await.unwrap();
    assert!(matches!(sent, Progress::Sent { tree_size: 8, .. }));
    mined(&anvil, &sent);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 8 }
    );
    // The tree grew, but the interval is not over.
    ledger.add_checkpoint(12).await;
    assert_eq!(worker.tick().await.unwrap(), Progress::Idle);
    assert_eq!(anchors(&ledger).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lag_counts_what_the_newest_confirmed_anchor_leaves_out() {
    let Scene {
        anvil,
        ledger,
        worker,
        metrics: _,
        sender: _,
    } = Scene::on(Anvil::start(), |settings| {
        settings.finality = Finality::Confirmations(1);
    })
    .await;
    let store = ledger.store();
    // No checkpoint: nothing lags.
    assert_eq!(store.lag(worker.key()).await.unwrap(), (0, 0.0));
    // Nothing anchored: the whole tree lags, since the oldest checkpoint was signed.
    ledger.add_checkpoint(5).await;
    ledger.add_checkpoint(8).await;
    let (entries, seconds) = store.lag(worker.key()).await.unwrap();
    assert_eq!(entries, 8);
    assert!(seconds > 0.0 && seconds < 60.0, "{seconds} s");
    let sent = worker.tick().await.unwrap();
    mined(&anvil, &sent);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 8 }
    );
    assert_eq!(store.lag(worker.key()).await.unwrap(), (0, 0.0));
    // The tree grew past the confirmed anchor: only the growth lags.
    ledger.add_checkpoint(12).await;
    let (entries, seconds) = store.lag(worker.key()).await.unwrap();
    assert_eq!(entries, 4);
    assert!(seconds > 0.0 && seconds < 60.0, "{seconds} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_is_replaced_with_higher_fees_and_paid_once() {
    let Scene {
        anvil,
        ledger,
        worker,
        metrics,
        sender,
    } = Scene::on(Anvil::start(), |settings| {
        settings.bump_after = Duration::ZERO;
        settings.finality = Finality::Confirmations(1);
    })
    .await;
    anvil.automine(false);
    ledger.add_checkpoint(3).await;
    let first = sent_hash(&worker.tick().await.unwrap());
    // Blocks too small for it: it stays in the pool, unmined.
    anvil.call("anvil_setBlockGasLimit", json!(["0x5208"]));
    anvil.mine(3);
    assert!(anvil.receipt(&first).is_none());
    anvil.call("anvil_setBlockGasLimit", json!(["0x1c9c380"]));
    // Waited too long: replaced with fees 12.5 % higher, same nonce.
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_fee_bumps_total{chain=\"local\"}"),
        1.0
    );
    let attempts = ledger
        .store()
        .attempts(anchors(&ledger).await[0].id)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 2);
    let (bump, old) = (&attempts[0], &attempts[1]);
    assert_eq!(old.tx_hash, first);
    assert!(bump.max_fee_per_gas * 100 >= old.max_fee_per_gas * 110);
    assert!(bump.max_priority_fee_per_gas * 100 >= old.max_priority_fee_per_gas * 110);
    anvil.mine(1);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 3 }
    );
    let anchor = &anchors(&ledger).await[0];
    assert_eq!(anchor.tx_hash, Some(bump.tx_hash));
    assert!(anvil.receipt(&first).is_none());
    // Deployment and one anchor: one payment for the checkpoint.
    assert_eq!(anvil.nonce(&sender), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fee_cap_holds_an_anchor_back_and_says_so() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let settings = settings(&anvil, "local");
    let sender = settings.signer.address();
    // A worker with an ordinary cap deploys the contract (a capped one could not).
    let (deployer, _) = worker(settings.clone(), &ledger).await;
    drop(deployer);
    // A cap below the base fee (1 gwei on a new chain): nothing is sent.
    let mut capped = settings;
    capped.fee_cap = 100_000_000;
    let (worker, metrics_capped) = crate::common::worker(capped, &ledger).await;
    ledger.add_checkpoint(4).await;
    assert_eq!(worker.tick().await.unwrap(), Progress::Idle);
    assert_eq!(worker.tick().await.unwrap(), Progress::Idle);
    assert_eq!(
        metric(
            &metrics_capped,
            "tagtrail_anchor_fee_capped_total{chain=\"local\"}"
        ),
        2.0
    );
    assert!(anchors(&ledger).await.is_empty());
    assert_eq!(anvil.nonce(&sender), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fee_cap_holds_a_bump_back() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let mut settings = settings(&anvil, "local");
    settings.bump_after = Duration::ZERO;
    // The first offer is 2 × base fee + tip = 3 gwei: a cap of 3.2 gwei leaves no room for +10 %.
    settings.fee_cap = 3_200_000_000;
    let (worker, metrics) = worker(settings, &ledger).await;
    anvil.automine(false);
    ledger.add_checkpoint(4).await;
    sent_hash(&worker.tick().await.unwrap());
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    assert_eq!(
        metric(
            &metrics,
            "tagtrail_anchor_fee_capped_total{chain=\"local\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_fee_bumps_total{chain=\"local\"}"),
        0.0
    );
    let id = anchors(&ledger).await[0].id;
    assert_eq!(ledger.store().attempts(id).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_is_sent_again() {
    let Scene {
        anvil,
        ledger,
        worker,
        metrics,
        sender,
    } = Scene::on(Anvil::start(), |settings| {
        settings.finality = Finality::Confirmations(1);
    })
    .await;
    anvil.automine(false);
    ledger.add_checkpoint(6).await;
    let tx = sent_hash(&worker.tick().await.unwrap());
    anvil.call("anvil_dropTransaction", json!([tx.to_string()]));
    assert!(
        anvil
            .call("eth_getTransactionByHash", json!([tx.to_string()]))
            .is_null()
    );
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_resent_total{chain=\"local\"}"),
        1.0
    );
    anvil.mine(1);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 6 }
    );
    assert_eq!(anchors(&ledger).await[0].tx_hash, Some(tx));
    assert_eq!(anvil.nonce(&sender), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_that_drops_the_transaction_is_noticed_and_the_anchor_sent_again() {
    let Scene {
        anvil,
        ledger,
        worker,
        metrics,
        sender,
    } = Scene::on(Anvil::start(), |settings| {
        settings.finality = Finality::Confirmations(3);
    })
    .await;
    ledger.add_checkpoint(7).await;
    let tx = mined(&anvil, &worker.tick().await.unwrap());
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    let before = anchors(&ledger).await[0].clone();
    assert_eq!(before.state, State::Included);
    // Replace the newest block (the anchor's) with an empty one: the transaction is nowhere.
    anvil.call("anvil_reorg", json!([1, []]));
    assert!(anvil.receipt(&tx).is_none());
    assert_eq!(anvil.nonce(&sender), 1);
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_reorgs_total{chain=\"local\"}"),
        1.0
    );
    // Sent again as signed (automine mined it at once), then confirmed in its new block.
    anvil.mined(&tx);
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    anvil.mine(2);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 7 }
    );
    let after = anchors(&ledger).await[0].clone();
    assert_eq!(after.tx_hash, Some(tx));
    assert_ne!(after.block_hash, before.block_hash);
    assert_eq!(after.reorgs, 1);
    assert_eq!(anvil.nonce(&sender), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_that_moves_the_transaction_to_another_block_is_followed() {
    let Scene {
        anvil,
        ledger,
        worker,
        metrics,
        sender,
    } = Scene::on(Anvil::start(), |settings| {
        settings.finality = Finality::Confirmations(4);
    })
    .await;
    ledger.add_checkpoint(9).await;
    let tx = mined(&anvil, &worker.tick().await.unwrap());
    anvil.mine(2);
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    let before = anchors(&ledger).await[0].clone();
    let raw = ledger.store().attempts(before.id).await.unwrap()[0]
        .raw
        .clone();
    // Replace the last 3 blocks; the anchor goes into the third of the new ones.
    anvil.call("anvil_reorg", json!([3, [[anchor::rpc::hex(&raw), 2]]]));
    let moved = anvil.receipt(&tx).unwrap();
    assert_ne!(
        moved["blockNumber"].as_str().unwrap(),
        format!("{:#x}", before.block_number.unwrap())
    );
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    let after = anchors(&ledger).await[0].clone();
    assert_eq!(after.state, State::Included);
    assert_ne!(after.block_hash, before.block_hash);
    assert_eq!(after.block_number, Some(before.block_number.unwrap() + 2));
    assert_eq!(after.reorgs, 1);
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_reorgs_total{chain=\"local\"}"),
        1.0
    );
    anvil.mine(3);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 9 }
    );
    assert_eq!(anvil.nonce(&sender), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_goes_away_and_comes_back_is_waited_for() {
    let state = std::env::temp_dir().join(format!("anchor-anvil-state-{}", std::process::id()));
    let state_arg = state.display().to_string();
    let mut anvil = Anvil::start_with(31337, &["--state", &state_arg]);
    let ledger = Ledger::create().await;
    let settings = settings(&anvil, "local");
    let sender = settings.signer.address();
    let (worker, _) = worker(settings, &ledger).await;
    ledger.add_checkpoint(11).await;
    mined(&anvil, &worker.tick().await.unwrap());
    anvil.stop();
    // The node is gone: the tick fails with a clear reachability error, and nothing changes.
    let error = worker.tick().await.unwrap_err();
    assert!(
        error.to_string().contains("could not be reached"),
        "{error}"
    );
    assert_eq!(anchors(&ledger).await[0].state, State::Pending);
    anvil.restart();
    anvil.mine(1);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 11 }
    );
    assert_eq!(anvil.nonce(&sender), 2);
    drop(anvil);
    let _ = std::fs::remove_file(&state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chains_are_anchored_at_once_each_with_its_own_state() {
    let first = Anvil::start_with(31337, &[]);
    let second = Anvil::start_with(31338, &[]);
    let ledger = Ledger::create().await;
    let mut a = settings(&first, "first");
    a.finality = Finality::Confirmations(1);
    let mut b = settings(&second, "second");
    b.finality = Finality::Confirmations(1);
    let (worker_a, _) = worker(a, &ledger).await;
    let (worker_b, _) = worker(b, &ledger).await;
    ledger.add_checkpoint(20).await;
    let (one, two) = tokio::join!(worker_a.tick(), worker_b.tick());
    mined(&first, &one.unwrap());
    mined(&second, &two.unwrap());
    let (one, two) = tokio::join!(worker_a.tick(), worker_b.tick());
    assert_eq!(one.unwrap(), Progress::Confirmed { tree_size: 20 });
    assert_eq!(two.unwrap(), Progress::Confirmed { tree_size: 20 });
    let stored = anchors(&ledger).await;
    let mut chains: Vec<(String, u64)> = stored
        .iter()
        .map(|anchor| (anchor.chain.clone(), anchor.chain_id))
        .collect();
    chains.sort();
    assert_eq!(
        chains,
        [("first".to_owned(), 31337), ("second".to_owned(), 31338)]
    );
    assert!(stored.iter().all(|anchor| anchor.state == State::Confirmed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_chain_id_and_a_foreign_contract_are_refused_at_start() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let mut wrong = settings(&anvil, "local");
    wrong.chain_id = 1;
    let error = anchor::worker::ChainWorker::start(
        wrong,
        ledger.store(),
        std::sync::Arc::new(anchor::metrics::Metrics::new()),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("serves chain id 31337, the settings say 1"),
        "{error}"
    );
    // An address with other code (a funded account's own address has none; put some there).
    let mut foreign = settings(&anvil, "local");
    let address = alloy_primitives::Address::repeat_byte(0x42);
    anvil.call("anvil_setCode", json!([address.to_string(), "0x6000"]));
    foreign.contract = Some(address);
    let error = anchor::worker::ChainWorker::start(
        foreign.clone(),
        ledger.store(),
        std::sync::Arc::new(anchor::metrics::Metrics::new()),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is not the tagtrail anchor contract"),
        "{error}"
    );
    // A configured address with no code at all.
    foreign.contract = Some(alloy_primitives::Address::repeat_byte(0x43));
    let error = anchor::worker::ChainWorker::start(
        foreign,
        ledger.store(),
        std::sync::Arc::new(anchor::metrics::Metrics::new()),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("there is no contract at"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gas_per_anchor_does_not_depend_on_how_many_events_it_covers() {
    let Scene {
        anvil,
        ledger,
        worker,
        metrics: _,
        sender: _,
    } = Scene::on(Anvil::start(), |settings| {
        settings.finality = Finality::Confirmations(1);
    })
    .await;
    let mut gas = Vec::new();
    for size in [10u64, 10_000_000] {
        ledger.add_checkpoint(size).await;
        mined(&anvil, &worker.tick().await.unwrap());
        assert_eq!(
            worker.tick().await.unwrap(),
            Progress::Confirmed { tree_size: size }
        );
        let anchor = anchors(&ledger).await.last().unwrap().clone();
        gas.push((anchor.gas_used.unwrap(), anchor.calldata));
    }
    // EIP-7623 prices calldata at 10 gas per token (a zero byte is one token, any other byte
    // four) with a floor the anchor's execution never reaches: an anchor costs exactly
    // 21,000 + 10 × tokens of its 141 calldata bytes, at most 21,000 + 40 × 141 = 26,640, however
    // many events the checkpoint covers. (The two differ only by the zero bytes of their sizes,
    // roots and signatures.)
    for (used, calldata) in &gas {
        assert_eq!(calldata.len(), 32 + anchor::format::PAYLOAD_LEN);
        let zeros = calldata.iter().filter(|byte| **byte == 0).count() as u64;
        let tokens = zeros + 4 * (calldata.len() as u64 - zeros);
        assert_eq!(*used, 21_000 + 10 * tokens);
        assert!(*used <= 26_640);
    }
    println!(
        "gas per anchor: {} (10 entries), {} (10,000,000 entries)",
        gas[0].0, gas[1].0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_finalized_an_anchor_is_confirmed_at_the_finalized_block() {
    // Two slots per epoch: anvil's finalized block trails the newest by 2 × 1 blocks.
    let Scene {
        anvil,
        ledger,
        worker,
        metrics: _,
        sender: _,
    } = Scene::on(
        Anvil::start_with(31337, &["--slots-in-an-epoch", "1"]),
        |settings| {
            settings.finality = Finality::Finalized;
        },
    )
    .await;
    ledger.add_checkpoint(30).await;
    mined(&anvil, &worker.tick().await.unwrap());
    let included = anvil.block_number();
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    anvil.mine(1);
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    anvil.mine(1);
    let finalized = anvil.call("eth_getBlockByNumber", json!(["finalized", false]));
    assert_eq!(finalized["number"], format!("{included:#x}"));
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 30 }
    );
}
