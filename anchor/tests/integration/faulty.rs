//! The worker against faulty and lying nodes: a proxy in front of anvil (`FaultyNode`) changes the
//! answers each test names, and the worker must neither stop anchoring nor pay twice for one
//! checkpoint; two workers sharing one database must not either.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::B256;
use anchor::metrics::Metrics;
use anchor::store::{Attempt, State};
use anchor::testing::FaultyNode;
use anchor::tx::Eip1559;
use anchor::verify::find_anchors;
use anchor::worker::Progress;
use ledger::checkpoint::Origin;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::common::{Anvil, Ledger, ORIGIN, metric, settings, wait_for, worker};

/// The anchors of the test's database, oldest first.
async fn anchors(ledger: &Ledger) -> Vec<anchor::store::Anchor> {
    let mut all = ledger.store().list(100).await.unwrap();
    all.reverse();
    all
}

/// The tree sizes of every anchor event of the test's log on the chain, in chain order.
fn anchored_on_chain(anvil: &Anvil) -> Vec<u64> {
    let origin = Origin::parse(ORIGIN).unwrap();
    find_anchors(&anvil.rpc(), &origin, None, 0, None)
        .unwrap()
        .into_iter()
        .map(|found| found.payload.unwrap().size.get())
        .collect()
}

fn sent_hash(progress: &Progress) -> B256 {
    match progress {
        Progress::Sent { tx_hash, .. } => *tx_hash,
        other => panic!("expected a sent anchor, got {other:?}"),
    }
}

fn disagreements(metrics: &Metrics) -> f64 {
    metric(
        metrics,
        "tagtrail_anchor_node_disagreements_total{chain=\"local\"}",
    )
}

/// The lie of a node that hides every transaction of ours that is mined: no receipt, no
/// transaction, and (with `logs`) no event.
fn hide_mined(logs: bool) -> impl Fn(&str, &Value, Value) -> Value + Send + Sync + 'static {
    move |method, _, result| match method {
        "eth_getTransactionReceipt" | "eth_getTransactionByHash" => Value::Null,
        "eth_getLogs" if logs => json!([]),
        _ => result,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_that_lies_about_failure_is_overruled_by_the_block() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let node = FaultyNode::start(&anvil.url);
    let mut settings = settings(&anvil, "local");
    settings.rpc = node.rpc();
    let (worker, metrics) = worker(settings, &ledger).await;
    node.lie(|method, _, mut result| {
        if method == "eth_getTransactionReceipt" && result.is_object() {
            result["status"] = json!("0x0");
        }
        result
    });
    ledger.add_checkpoint(10).await;
    let tx = sent_hash(&worker.tick().await.unwrap());
    anvil.mined(&tx);
    // In a block, not deep enough: nothing is final yet, whatever the receipt says.
    assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    assert_eq!(anchors(&ledger).await[0].state, State::Included);
    anvil.mine(1);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 10 }
    );
    assert!(node.lies_told() > 0, "the node never lied");
    let all = anchors(&ledger).await;
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].state, all[0].tx_hash), (State::Confirmed, Some(tx)));
    // The lie was noticed, not just survived.
    assert_eq!(disagreements(&metrics), 1.0);
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_reverted_total{chain=\"local\"}"),
        0.0
    );
    assert_eq!(anchored_on_chain(&anvil), [10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proven_revert_is_followed_by_a_new_anchor_of_the_checkpoint() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let settings = settings(&anvil, "local");
    let signer = settings.signer.clone();
    let (worker, metrics) = worker(settings, &ledger).await;
    let key = worker.key().clone();
    // An anchor whose transaction really fails: the contract refuses a call shorter than an
    // origin topic. It is recorded as the worker records its own, and sent.
    let checkpoint = ledger.add_checkpoint(12).await;
    let short = vec![1u8; 31];
    let nonce = anvil.nonce(&key.sender);
    let signed = signer
        .sign(&Eip1559 {
            chain_id: key.chain_id,
            nonce,
            max_priority_fee_per_gas: 1_000_000_000,
            max_fee_per_gas: 20_000_000_000,
            gas_limit: 40_000,
            to: Some(key.contract),
            data: short.clone(),
        })
        .unwrap();
    let attempt = Attempt {
        tx_hash: signed.hash,
        raw: signed.raw.clone(),
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        age_seconds: 0.0,
    };
    let store = ledger.store();
    store
        .create(&key, &checkpoint, &short, nonce, &attempt)
        .await
        .unwrap()
        .unwrap();
    anvil.call(
        "eth_sendRawTransaction",
        json!([anchor::rpc::hex(&signed.raw)]),
    );
    assert_eq!(anvil.mined(&signed.hash)["status"], "0x0");
    anvil.mine(1);
    assert_eq!(worker.tick().await.unwrap(), Progress::Idle);
    assert_eq!(anchors(&ledger).await[0].state, State::Reverted);
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_reverted_total{chain=\"local\"}"),
        1.0
    );
    // Nothing stops: the same checkpoint is anchored again (the interval is zero here).
    let tx = sent_hash(&worker.tick().await.unwrap());
    anvil.mined(&tx);
    anvil.mine(1);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 12 }
    );
    let states: Vec<(u64, State)> = anchors(&ledger)
        .await
        .iter()
        .map(|anchor| (anchor.tree_size, anchor.state))
        .collect();
    assert_eq!(states, [(12, State::Reverted), (12, State::Confirmed)]);
    assert_eq!(anchored_on_chain(&anvil), [12]);
    assert_eq!(disagreements(&metrics), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverted_anchor_left_by_an_earlier_worker_does_not_stop_anchoring() {
    // The state an earlier worker left after believing one lying receipt: a reverted anchor.
    // A worker started later anchors the newest checkpoint again.
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let (worker, _) = worker(settings(&anvil, "local"), &ledger).await;
    let key = worker.key().clone();
    ledger.add_checkpoint(7).await;
    let client = ledger.db.connect().await.unwrap();
    client
        .execute(
            "INSERT INTO anchors (chain, chain_id, contract, sender, tree_size, root_hash,
                                  checkpoint, calldata, nonce, state, tx_hash, block_number)
             SELECT 'local', $1, $2, $3, tree_size, root_hash, note, '\\x00', 1, 'reverted',
                    '\\x0101010101010101010101010101010101010101010101010101010101010101', 2
             FROM checkpoints WHERE tree_size = 7",
            &[
                &i64::try_from(key.chain_id).unwrap(),
                &key.contract.as_slice(),
                &key.sender.as_slice(),
            ],
        )
        .await
        .unwrap();
    let tx = sent_hash(&worker.tick().await.unwrap());
    anvil.mined(&tx);
    anvil.mine(1);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 7 }
    );
    assert_eq!(anchored_on_chain(&anvil), [7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_hides_a_mined_anchor_does_not_make_it_abandoned() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let node = FaultyNode::start(&anvil.url);
    let mut settings = settings(&anvil, "local");
    settings.rpc = node.rpc();
    let sender = settings.signer.address();
    let (worker, _) = worker(settings, &ledger).await;
    node.lie(hide_mined(false));
    ledger.add_checkpoint(8).await;
    let tx = sent_hash(&worker.tick().await.unwrap());
    anvil.mined(&tx);
    anvil.mine(2);
    // The node says the nonce is used and knows no transaction of ours; its own event log says
    // otherwise, so the anchor waits rather than being given up and paid for again.
    for _ in 0..3 {
        assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
    }
    assert!(node.lies_told() > 0, "the node never lied");
    assert_eq!(anchors(&ledger).await[0].state, State::Pending);
    node.honest();
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 8 }
    );
    let all = anchors(&ledger).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].tx_hash, Some(tx));
    assert_eq!(anvil.nonce(&sender), 2, "one deployment, one anchor");
    assert_eq!(anchored_on_chain(&anvil), [8]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_node_finds_what_the_sending_node_hides() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let node = FaultyNode::start(&anvil.url);
    let mut settings = settings(&anvil, "local");
    settings.rpc = node.rpc();
    settings.witnesses = vec![anvil.rpc()];
    let (worker, _) = worker(settings, &ledger).await;
    node.lie(hide_mined(true));
    ledger.add_checkpoint(9).await;
    let tx = sent_hash(&worker.tick().await.unwrap());
    anvil.mined(&tx);
    anvil.mine(1);
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 9 }
    );
    assert!(node.lies_told() > 0, "the node never lied");
    assert_eq!(anchors(&ledger).await[0].tx_hash, Some(tx));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_of_nodes_must_agree_on_the_block_before_an_anchor_is_final() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let liar = FaultyNode::start(&anvil.url);
    // The liar serves every block under another hash.
    liar.lie(|method, _, mut result| {
        if method == "eth_getBlockByNumber" && result.is_object() {
            result["hash"] = json!(B256::repeat_byte(0xee).to_string());
        }
        result
    });
    let mut strict = settings(&anvil, "local");
    strict.witnesses = vec![liar.rpc()];
    strict.quorum = 2;
    let mut majority = strict.clone();
    majority.witnesses.push(anvil.rpc());
    majority.quorum = 2;
    let (strict, strict_metrics) = worker(strict, &ledger).await;
    let (majority, _) = worker(majority, &ledger).await;
    ledger.add_checkpoint(11).await;
    let tx = sent_hash(&strict.tick().await.unwrap());
    anvil.mined(&tx);
    anvil.mine(1);
    // Two nodes, both must agree, one lies: nothing is recorded, however deep the block.
    for _ in 0..3 {
        assert_eq!(strict.tick().await.unwrap(), Progress::Waiting);
    }
    assert_eq!(anchors(&ledger).await[0].state, State::Pending);
    assert!(disagreements(&strict_metrics) >= 1.0);
    // Three nodes, two must agree: the liar is outvoted.
    assert_eq!(
        majority.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 11 }
    );
    assert_eq!(anchors(&ledger).await[0].state, State::Confirmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_database_never_pay_twice_for_a_checkpoint() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let settings = settings(&anvil, "local");
    let sender = settings.signer.address();
    let (first, _) = worker(settings.clone(), &ledger).await;
    let (second, _) = worker(settings, &ledger).await;
    let sizes = [3u64, 5, 8, 13, 21, 34];
    for &size in &sizes {
        ledger.add_checkpoint(size).await;
        let mut rounds = 0;
        loop {
            let (a, b) = tokio::join!(first.tick(), second.tick());
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!(
                !(matches!(a, Progress::Sent { .. }) && matches!(b, Progress::Sent { .. })),
                "both workers sent an anchor in one round: {a:?} {b:?}"
            );
            if [a, b].contains(&Progress::Confirmed { tree_size: size }) {
                break;
            }
            anvil.mine(1);
            rounds += 1;
            assert!(rounds < 20, "checkpoint {size} was not confirmed");
        }
    }
    assert_eq!(anchored_on_chain(&anvil), sizes);
    // One deployment and one transaction per checkpoint: nothing else was mined from the key.
    assert_eq!(anvil.nonce(&sender), 1 + sizes.len() as u64);
    let confirmed = anchors(&ledger)
        .await
        .iter()
        .filter(|anchor| anchor.state == State::Confirmed)
        .count();
    assert_eq!(confirmed, sizes.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_is_reported_until_anchoring_resumes() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let node = FaultyNode::start(&anvil.url);
    let mut settings = settings(&anvil, "local");
    settings.rpc = node.rpc();
    settings.stall_after = Duration::from_secs(1);
    let (worker, metrics) = worker(settings, &ledger).await;
    // The node hides the mined anchor, so nothing is confirmed (its event log shows it is ours,
    // so it is not abandoned either).
    node.lie(hide_mined(false));
    ledger.add_checkpoint(4).await;
    let cancel = CancellationToken::new();
    let running = tokio::spawn(worker.run(cancel.clone()));
    let stalled = |metrics: &Arc<Metrics>| metrics.stalled_chains() == ["local"];
    wait_for(Duration::from_secs(30), "the stall to be reported", || {
        anvil.mine(1);
        stalled(&metrics)
    })
    .await;
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_stalled{chain=\"local\"}"),
        1.0
    );
    node.honest();
    wait_for(Duration::from_secs(30), "anchoring to resume", || {
        anvil.mine(1);
        metrics.stalled_chains().is_empty()
    })
    .await;
    assert_eq!(
        metric(&metrics, "tagtrail_anchor_stalled{chain=\"local\"}"),
        0.0
    );
    cancel.cancel();
    running.await.unwrap();
    assert_eq!(anchored_on_chain(&anvil), [4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invented_failed_receipt_neither_reverts_nor_stalls_an_anchor() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let liar = FaultyNode::start(&anvil.url);
    let honest = FaultyNode::start(&anvil.url);
    let mut alone = settings(&anvil, "local");
    alone.rpc = liar.rpc();
    let mut outvoting = alone.clone();
    outvoting.rpc = anvil.rpc();
    outvoting.witnesses = vec![liar.rpc(), honest.rpc()];
    outvoting.quorum = 2;
    // Every tick of a pending anchor replaces it with higher fees: the invented receipt must not
    // hold that back.
    outvoting.bump_after = Duration::ZERO;
    let sender = alone.signer.address();
    let (alone, alone_metrics) = worker(alone, &ledger).await;
    let (outvoting, outvoting_metrics) = worker(outvoting, &ledger).await;
    let contract = alone.key().contract;
    // A real failed transaction of someone else: a call the contract refuses.
    let dev = anvil.call("eth_accounts", json!([]))[0].clone();
    let failed: B256 = serde_json::from_value(anvil.call(
        "eth_sendTransaction",
        json!([{"from": dev, "to": contract.to_string(), "data": "0x01"}]),
    ))
    .unwrap();
    let failed_receipt = anvil.mined(&failed);
    assert_eq!(failed_receipt["status"], "0x0");
    anvil.mine(3);

    anvil.automine(false);
    ledger.add_checkpoint(13).await;
    let ours = sent_hash(&outvoting.tick().await.unwrap());
    // The liar answers for our pending transaction with the failed one's receipt.
    let invented = failed_receipt.clone();
    let ours_text = ours.to_string();
    liar.lie(move |method, params, result| {
        if method == "eth_getTransactionReceipt" && params[0] == json!(ours_text) {
            let mut receipt = invented.clone();
            receipt["transactionHash"] = json!(ours_text);
            return receipt;
        }
        result
    });
    // Among three nodes, two of which must agree, the invented receipt is one claim: the anchor is
    // followed as pending, its fees bumped.
    for _ in 0..3 {
        assert_eq!(outvoting.tick().await.unwrap(), Progress::Waiting);
    }
    assert!(
        metric(
            &outvoting_metrics,
            "tagtrail_anchor_fee_bumps_total{chain=\"local\"}"
        ) >= 1.0,
        "the invented receipt held the fee bumps back"
    );
    // Alone, the liar's receipt names a real, deep block whose receipt at that index failed: but
    // the sender's nonce was not used in that block.
    for _ in 0..3 {
        assert_eq!(alone.tick().await.unwrap(), Progress::Waiting);
    }
    assert!(liar.lies_told() > 0, "the liar never lied");
    // The lone worker may have taken the liar's block for the anchor's (one node, quorum 1: it
    // cannot tell), but nothing final: not reverted, not abandoned.
    let state = anchors(&ledger).await[0].state;
    assert!(
        [State::Pending, State::Included].contains(&state),
        "{state:?}"
    );
    assert!(disagreements(&alone_metrics) >= 1.0);
    // The transaction is mined: the honest receipts outvote the invented one.
    anvil.automine(true);
    anvil.mine(2);
    assert_eq!(
        outvoting.tick().await.unwrap(),
        Progress::Confirmed { tree_size: 13 }
    );
    let all = anchors(&ledger).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].state, State::Confirmed);
    let attempts = ledger.store().attempts(all[0].id).await.unwrap();
    assert!(
        attempts
            .iter()
            .any(|attempt| Some(attempt.tx_hash) == all[0].tx_hash),
        "{all:?}"
    );
    assert_eq!(anchored_on_chain(&anvil), [13]);
    assert_eq!(anvil.nonce(&sender), 2, "one deployment, one anchor paid");
}
