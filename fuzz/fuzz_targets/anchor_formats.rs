//! What the anchor code reads from outside: anchor payloads (event data on a public chain, where
//! anyone can emit them), self-contained receipt proofs (from bundles and the database), and the
//! block and receipt JSON a node answers with. No input may panic; a payload that decodes
//! re-encodes to itself; a proof checked against the hash of its own header either verifies or
//! says why not.
#![no_main]

use anchor_verify::format::Payload;
use anchor_verify::proof::{ReceiptProof, header_rlp, receipt_encoding, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = Payload::decode(data) {
        assert_eq!(
            payload.encode(),
            data,
            "a decoded payload re-encodes to its bytes"
        );
    }
    if let Ok(proof) = serde_json::from_slice::<ReceiptProof>(data) {
        let hash = alloy_primitives::keccak256(&proof.header);
        let _ = verify(&proof, hash);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = header_rlp(&value);
        let _ = receipt_encoding(&value);
    }
    // Raw bytes as a header and a single proof node.
    if data.len() > 2 {
        let split = usize::from(data[0]) % data.len();
        let proof = ReceiptProof {
            header: data[..split].to_vec().into(),
            receipt_index: u64::from(data[1]),
            receipt_proof: vec![data[split..].to_vec().into()],
        };
        let hash = alloy_primitives::keccak256(&proof.header);
        let _ = verify(&proof, hash);
    }
});
