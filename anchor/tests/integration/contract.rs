//! The anchor contract on a real chain: deployed from the committed bytecode, what it emits,
//! what it refuses, and the gas of the options we weighed (anchor/README.md, "Gas").

use std::time::Duration;

use alloy_primitives::{Address, keccak256};
use anchor::format::{Payload, anchor_topic, contract_runtime, create_address, origin_topic};
use anchor::rpc::hex;
use anchor::tx::{Eip1559, Signer};
use anchor::worker::deploy_contract;
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::note::{KeyName, NoteSignerKey};
use ledger::{RootHash, TreeSize};
use serde_json::{Value, json};

use crate::common::Anvil;

fn deployed(anvil: &Anvil) -> (Signer, Address) {
    let signer = Signer::generate();
    anvil.fund(&signer.address());
    let contract = deploy_contract(
        &anvil.rpc(),
        &signer,
        100_000_000_000,
        Duration::from_secs(30),
    )
    .unwrap();
    (signer, contract)
}

/// Sends a signed call and returns its receipt.
fn send(anvil: &Anvil, signer: &Signer, to: Option<Address>, data: Vec<u8>) -> Value {
    let nonce = anvil.nonce(&signer.address());
    let signed = signer
        .sign(&Eip1559 {
            chain_id: anvil.chain_id,
            nonce,
            max_priority_fee_per_gas: 1_000_000_000,
            max_fee_per_gas: 10_000_000_000,
            gas_limit: 200_000,
            to,
            data,
        })
        .unwrap();
    anvil.call("eth_sendRawTransaction", json!([hex(&signed.raw)]));
    anvil.mined(&signed.hash)
}

fn estimate(anvil: &Anvil, from: &Address, to: &Address, data: &[u8]) -> u64 {
    let text = anvil.call(
        "eth_estimateGas",
        json!([{"from": from.to_string(), "to": to.to_string(), "data": hex(data)}]),
    );
    u64::from_str_radix(text.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn signed_payload(size: u64) -> (Origin, Payload) {
    let origin = Origin::parse("tagtrail.test/contract").unwrap();
    let key = NoteSignerKey::from_seed(KeyName::parse("tagtrail.test/contract").unwrap(), &[3; 32]);
    let checkpoint = Checkpoint::new(
        origin.clone(),
        TreeSize::new(size).unwrap(),
        RootHash::from_bytes([0xc4; 32]),
    );
    let note = checkpoint.sign(&[&key]).unwrap().to_message();
    Payload::of_checkpoint(&note).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_emits_one_event_with_the_origin_topic_and_the_payload() {
    let anvil = Anvil::start();
    let (signer, contract) = deployed(&anvil);
    assert_eq!(contract, create_address(&signer.address(), 0));
    let code = anvil.call("eth_getCode", json!([contract.to_string(), "latest"]));
    assert_eq!(code.as_str().unwrap(), hex(&contract_runtime()));

    let (origin, payload) = signed_payload(1234);
    let receipt = send(&anvil, &signer, Some(contract), payload.calldata(&origin));
    assert_eq!(receipt["status"], "0x1");
    let logs = receipt["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(
        log["address"].as_str().unwrap().to_lowercase(),
        contract.to_string().to_lowercase()
    );
    assert_eq!(
        log["topics"],
        json!([
            anchor_topic().to_string(),
            origin_topic(&origin).to_string()
        ])
    );
    assert_eq!(
        origin_topic(&origin),
        keccak256(b"tagtrail.test/contract"),
        "the origin topic is keccak256 of the origin, as Solidity hashes an indexed string"
    );
    let data = anchor::rpc::parse_bytes("test", &log["data"]).unwrap();
    assert_eq!(Payload::decode(&data).unwrap(), payload);

    // Any payload length is emitted as given (verifiers decide what it means).
    let receipt = send(&anvil, &signer, Some(contract), vec![7; 32]);
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["logs"][0]["data"], "0x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_refuses_ether_and_short_calls() {
    let anvil = Anvil::start();
    let (signer, contract) = deployed(&anvil);
    let dev = anvil.call("eth_accounts", json!([]))[0].clone();
    let (origin, payload) = signed_payload(5);
    let call = |value: &str, data: Vec<u8>| {
        anvil.try_call(
            "eth_call",
            json!([{"from": dev, "to": contract.to_string(), "value": value, "data": hex(&data)}, "latest"]),
        )
    };
    assert!(call("0x0", payload.calldata(&origin)).is_ok());
    let error = call("0x1", payload.calldata(&origin)).unwrap_err();
    assert!(error.contains("revert"), "{error}");
    let error = call("0x0", vec![1; 31]).unwrap_err();
    assert!(error.contains("revert"), "{error}");
    // A short call mined: reverted, no event.
    let receipt = send(&anvil, &signer, Some(contract), vec![1; 31]);
    assert_eq!(receipt["status"], "0x0");
    assert!(receipt["logs"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gas_of_each_option_we_weighed() {
    let anvil = Anvil::start();
    let (signer, contract) = deployed(&anvil);
    let from = signer.address();
    let (origin, payload) = signed_payload(10_000_000);
    let ours = estimate(&anvil, &from, &contract, &payload.calldata(&origin));
    // Without the signature: origin topic, version, size, root (77 bytes).
    let unsigned = payload.calldata(&origin)[..32 + 41].to_vec();
    let without_signature = estimate(&anvil, &from, &contract, &unsigned);
    // A self-send of size and root: cheapest, but no event, so not discoverable by topic.
    let self_send = estimate(&anvil, &from, &from, &payload.encode()[1..41]);
    // Storing the root in contract state, keyed by size (SSTORE to a new slot).
    let storage = Address::repeat_byte(0x5e);
    anvil.call(
        "anvil_setCode",
        json!([storage.to_string(), "0x6020356000355500"]),
    );
    let mut stored = vec![0u8; 64];
    stored[24..32].copy_from_slice(&10_000_000u64.to_be_bytes());
    stored[32..].copy_from_slice(payload.root.as_bytes());
    let in_state = estimate(&anvil, &from, &storage, &stored);
    println!(
        "gas: self-send {self_send}, event without signature {without_signature}, \
         event with signature (ours) {ours}, root in contract state {in_state}"
    );
    assert!(ours <= 30_000, "{ours}");
    assert!(self_send < without_signature && without_signature < ours && ours < in_state);
    // The floor prices our 141 bytes: at most 21,000 + 40 × 141.
    assert!(ours <= 26_640);
}
