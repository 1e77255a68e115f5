//! Self-contained Ethereum anchors: a block header and the Merkle-Patricia proof of one receipt.
//!
//! An anchor is a transaction whose receipt carries the checkpoint as a contract event. To check it
//! later, a verifier must not need the chain's history: since EIP-4444 nodes may drop old blocks
//! and receipts, and an RPC node answering "yes, that receipt exists" is exactly the party we do not
//! want to trust. So an anchor record keeps a [`ReceiptProof`], checkable from a block hash alone
//! (which the verifier gets from any source it trusts: its own node, a light client, a checkpoint
//! sync, several explorers):
//!
//! - `header`: the block header, RLP-encoded exactly as the chain hashes it. `keccak256(header)` is
//!   the block hash, so the header's fields are authentic once that hash is; among them the
//!   `receiptsRoot` (field 5), the `number` (8) and the `timestamp` (11).
//! - `receiptIndex`: the transaction's index in the block. Its key in the block's receipts trie is
//!   `rlp(index)`.
//! - `receiptProof`: the RLP-encoded trie nodes on the path from the receipts root to the leaf that
//!   holds the receipt, root first. Each node's keccak256 (or the node itself, when shorter than 32
//!   bytes) is referenced by its parent, so the leaf's value, the receipt's EIP-2718 encoding
//!   (`type || rlp([status, cumulativeGasUsed, logsBloom, logs])`, no type byte for legacy
//!   receipts), is what the header committed to.
//!
//! [`build`] makes the proof from JSON-RPC answers (a block from `eth_getBlockByNumber` and all its
//! receipts from `eth_getBlockReceipts`). It re-encodes the header and checks it hashes to the
//! block's hash, rebuilds the whole receipts trie and checks its root against the header, so a
//! node that lies about either is caught at build time. [`verify`] needs nothing but the proof and
//! the block hash. In JSON the byte strings are `0x`-prefixed lowercase hex.
//!
//! Receipts without a status (pre-Byzantium, with an intermediate state root) are refused. Block
//! hashes are public, so comparing them in variable time leaks nothing.

use alloy_primitives::{Address, B256, Bytes, hex, keccak256};
use alloy_rlp::{Decodable, Encodable, Header, PayloadView};
use alloy_trie::{
    HashBuilder, Nibbles,
    nodes::TrieNode,
    proof::{ProofRetainer, ProofVerificationError, verify_proof},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What an anchor record keeps to be checked from a block hash alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptProof {
    /// The block header, RLP-encoded exactly as hashed (keccak256 of it is the block hash).
    #[serde(with = "hex_bytes")]
    pub header: Bytes,
    /// The transaction's index in the block (its key in the receipts trie is rlp(index)).
    pub receipt_index: u64,
    /// The trie nodes from the root to the receipt's leaf, RLP-encoded, root first.
    #[serde(with = "hex_bytes_list")]
    pub receipt_proof: Vec<Bytes>,
}

/// A receipt proven by a [`ReceiptProof`]: what the block hash vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenReceipt {
    /// The block hash the proof was checked against.
    pub block_hash: B256,
    /// The block's number, from its header.
    pub block_number: u64,
    /// The block's timestamp (seconds since the Unix epoch), from its header.
    pub timestamp: u64,
    /// Whether the transaction succeeded (status 1); a reverted transaction emits no logs.
    pub success: bool,
    /// The logs the transaction emitted, in order.
    pub logs: Vec<ReceiptLog>,
}

/// One log (contract event) of a proven receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptLog {
    /// The contract that emitted the log.
    pub address: Address,
    /// The indexed topics, the event signature's hash first for non-anonymous events.
    pub topics: Vec<B256>,
    /// The non-indexed data.
    pub data: Bytes,
}

/// Why a receipt proof could not be built or does not verify.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The JSON-RPC answer is not an object (a missing block is `null`).
    #[error("the {object} is not a JSON object")]
    NotAnObject {
        /// `block`, `receipt` or `log`.
        object: &'static str,
    },
    /// A member the encoding needs is absent (or `null`).
    #[error("the {object} has no {field:?} member")]
    MissingField {
        /// `block`, `receipt` or `log`.
        object: &'static str,
        /// The member, with its position for nested ones (`logs[1].topics[0]`).
        field: String,
    },
    /// A member does not have the expected JSON-RPC form.
    #[error("the {object}'s {field:?} member is malformed: {reason}")]
    MalformedField {
        /// `block`, `receipt` or `log`.
        object: &'static str,
        /// The member, with its position for nested ones (`logs[1].topics[0]`).
        field: String,
        /// The rule broken.
        reason: String,
    },
    /// A header field added by a fork is present while an earlier one is absent.
    #[error(
        "the block has {present:?} but not {missing:?}; the header fields added by forks must be \
         contiguous"
    )]
    HeaderFieldGap {
        /// The earlier field that is absent.
        missing: &'static str,
        /// The later field that is present.
        present: &'static str,
    },
    /// The header encoded from the block's JSON fields does not hash to the block's hash.
    #[error(
        "the header encoded from the block's fields hashes to {encoded}, not the block hash \
         {stated}; the chain may use header fields this version does not know"
    )]
    HeaderEncodingMismatch {
        /// keccak256 of the encoding.
        encoded: B256,
        /// The block's `hash` member.
        stated: B256,
    },
    /// The receipt carries an intermediate state root instead of a status.
    #[error(
        "the receipt has a state root instead of a status (pre-Byzantium); such receipts are not \
         supported"
    )]
    PreByzantiumReceipt,
    /// A receipt is not at the position of its transaction.
    #[error(
        "receipt {position} of the list is for transaction index {transaction_index}; give all of \
         the block's receipts, in order"
    )]
    ReceiptOutOfOrder {
        /// Its position in the list given.
        position: u64,
        /// Its `transactionIndex` member.
        transaction_index: u64,
    },
    /// A receipt belongs to another block.
    #[error("receipt {position} of the list is from block {receipt_block}, not block {block}")]
    ReceiptFromAnotherBlock {
        /// Its position in the list given.
        position: u64,
        /// Its `blockHash` member.
        receipt_block: B256,
        /// The block's hash.
        block: B256,
    },
    /// A receipt of the list could not be encoded.
    #[error("receipt {position} of the list: {problem}")]
    InvalidReceipt {
        /// Its position in the list given.
        position: u64,
        /// What is wrong with it.
        problem: Box<ProofError>,
    },
    /// The index asked for is not that of a receipt of the block.
    #[error("the block has {count} receipts, none at index {index}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The number of receipts given.
        count: usize,
    },
    /// The receipts given do not make the trie the header commits to.
    #[error(
        "the receipts root of the trie built from {count} receipts is {computed}, the header says \
         {header}; the list is incomplete or holds a receipt type this version does not encode"
    )]
    ReceiptsRootMismatch {
        /// The number of receipts given.
        count: usize,
        /// The root of the trie built from them.
        computed: B256,
        /// The header's `receiptsRoot`.
        header: B256,
    },
    /// The stored header is not the block's.
    #[error("the header hashes to {header_hash}, not the block hash {block_hash}")]
    BlockHashMismatch {
        /// keccak256 of the stored header.
        header_hash: B256,
        /// The block hash the proof was checked against.
        block_hash: B256,
    },
    /// The stored header hashes right but cannot be decoded.
    #[error("the header's {field} is malformed: {reason}")]
    MalformedHeader {
        /// The field (or `list` for the header as a whole).
        field: &'static str,
        /// The rule broken.
        reason: String,
    },
    /// The proof has no nodes.
    #[error("the receipt proof has no nodes")]
    EmptyProof,
    /// The proof's last node is not a leaf, so it holds no receipt.
    #[error("the last node of the receipt proof is not a trie leaf (a node was dropped?)")]
    ProofWithoutLeaf,
    /// The nodes do not chain from the receipts root to a leaf under the receipt's key.
    #[error(
        "the proof does not lead to the receipt under key {key} (receipt index {index}) from the \
         receipts root {receipts_root}"
    )]
    ProofMismatch {
        /// The receipt index of the proof.
        index: u64,
        /// Its trie key, rlp(index).
        key: Bytes,
        /// The header's `receiptsRoot`.
        receipts_root: B256,
        /// Where the walk failed.
        #[source]
        source: Box<ProofVerificationError>,
    },
    /// The proven value is not a receipt this version can decode.
    #[error("the proven receipt is malformed: {reason}")]
    MalformedProvenReceipt {
        /// The rule broken.
        reason: String,
    },
}

/// The position of `receiptsRoot` in the header's RLP list.
const RECEIPTS_ROOT_POSITION: usize = 5;
/// The position of `number` in the header's RLP list.
const NUMBER_POSITION: usize = 8;
/// The position of `timestamp` in the header's RLP list.
const TIMESTAMP_POSITION: usize = 11;

/// How a header or receipt field is written in JSON-RPC and encoded in RLP.
#[derive(Clone, Copy, Debug)]
enum FieldKind {
    /// Exactly this many bytes of hex data (hashes, addresses, the bloom, the nonce).
    Fixed(usize),
    /// Hex data of any length.
    Data,
    /// A hex quantity, encoded as an RLP integer (big-endian, no leading zeros).
    Quantity,
}

/// The header fields every block has, in RLP order.
const BASE_HEADER_FIELDS: [(&str, FieldKind); 15] = [
    ("parentHash", FieldKind::Fixed(32)),
    ("sha3Uncles", FieldKind::Fixed(32)),
    ("miner", FieldKind::Fixed(20)),
    ("stateRoot", FieldKind::Fixed(32)),
    ("transactionsRoot", FieldKind::Fixed(32)),
    ("receiptsRoot", FieldKind::Fixed(32)),
    ("logsBloom", FieldKind::Fixed(256)),
    ("difficulty", FieldKind::Quantity),
    ("number", FieldKind::Quantity),
    ("gasLimit", FieldKind::Quantity),
    ("gasUsed", FieldKind::Quantity),
    ("timestamp", FieldKind::Quantity),
    ("extraData", FieldKind::Data),
    ("mixHash", FieldKind::Fixed(32)),
    ("nonce", FieldKind::Fixed(8)),
];

/// The header fields added by forks, in RLP order: London, Shanghai, Cancun (three), Prague.
const FORK_HEADER_FIELDS: [(&str, FieldKind); 6] = [
    ("baseFeePerGas", FieldKind::Quantity),
    ("withdrawalsRoot", FieldKind::Fixed(32)),
    ("blobGasUsed", FieldKind::Quantity),
    ("excessBlobGas", FieldKind::Quantity),
    ("parentBeaconBlockRoot", FieldKind::Fixed(32)),
    ("requestsHash", FieldKind::Fixed(32)),
];

/// The length of a receipt's logs bloom, in bytes.
const BLOOM_LEN: usize = 256;

/// RLP of the header of a block as returned by `eth_getBlockByNumber`/`eth_getBlockByHash` (a JSON
/// object), checked: keccak256 of the encoding must equal the block's `hash` member. Returns the
/// encoding and the hash.
pub fn header_rlp(block: &Value) -> Result<(Vec<u8>, B256), ProofError> {
    let fields = JsonObject::new("block", block)?;
    let mut payload = Vec::with_capacity(640);
    for (name, kind) in BASE_HEADER_FIELDS {
        fields.encode_field(name, kind, &mut payload)?;
    }
    let mut first_absent: Option<&'static str> = None;
    for (name, kind) in FORK_HEADER_FIELDS {
        if fields.get(name).is_none() {
            first_absent.get_or_insert(name);
            continue;
        }
        if let Some(missing) = first_absent {
            return Err(ProofError::HeaderFieldGap {
                missing,
                present: name,
            });
        }
        fields.encode_field(name, kind, &mut payload)?;
    }
    let header = rlp_list(&payload);

    let stated = B256::from(fields.fixed::<32>("hash")?);
    let encoded = keccak256(&header);
    if encoded != stated {
        return Err(ProofError::HeaderEncodingMismatch { encoded, stated });
    }
    Ok((header, stated))
}

/// EIP-2718 encoding of a receipt as returned by `eth_getTransactionReceipt` or
/// `eth_getBlockReceipts`: `rlp([status, cumulativeGasUsed, logsBloom, logs])` for a legacy
/// receipt (type 0), the type byte followed by that RLP for a typed one.
pub fn receipt_encoding(receipt: &Value) -> Result<Vec<u8>, ProofError> {
    let fields = JsonObject::new("receipt", receipt)?;
    // Nodes from before EIP-2718 omit the type of what can only be a legacy receipt.
    let receipt_type = match fields.get("type") {
        None => 0,
        Some(_) => {
            let quantity = fields.quantity("type")?;
            match quantity.as_slice() {
                [] => 0,
                [byte] if *byte <= 0x7f => *byte,
                _ => {
                    return Err(fields.malformed("type", "an EIP-2718 type is at most 0x7f"));
                }
            }
        }
    };

    let mut payload = Vec::with_capacity(512);
    let success = match fields.get("status") {
        Some(_) => match fields.quantity("status")?.as_slice() {
            [] => false,
            [1] => true,
            _ => return Err(fields.malformed("status", "a status is 0x0 or 0x1")),
        },
        None if fields.get("root").is_some() => return Err(ProofError::PreByzantiumReceipt),
        None => return Err(fields.missing("status")),
    };
    encode_status(success, &mut payload);
    fields.encode_field("cumulativeGasUsed", FieldKind::Quantity, &mut payload)?;
    fields.encode_field("logsBloom", FieldKind::Fixed(BLOOM_LEN), &mut payload)?;

    let logs = fields.array("logs")?;
    let mut logs_payload = Vec::new();
    for (position, log) in logs.iter().enumerate() {
        encode_log(log, position, &mut logs_payload)?;
    }
    payload.extend_from_slice(&rlp_list(&logs_payload));

    let mut encoding = Vec::with_capacity(payload.len() + 4);
    if receipt_type != 0 {
        encoding.push(receipt_type);
    }
    encoding.extend_from_slice(&rlp_list(&payload));
    Ok(encoding)
}

/// Builds the proof of the receipt at `index` from the block and ALL its receipts, in order,
/// checking that the header encodes to the block's hash and that the receipts make the trie whose
/// root the header holds.
pub fn build(block: &Value, receipts: &[Value], index: u64) -> Result<ReceiptProof, ProofError> {
    let (header, block_hash) = header_rlp(block)?;
    let receipts_root = decode_header(&header)?.receipts_root;
    let count = receipts.len();
    if !usize::try_from(index).is_ok_and(|position| position < count) {
        return Err(ProofError::IndexOutOfRange { index, count });
    }

    let mut leaves = Vec::with_capacity(count);
    for (position, receipt) in (0u64..).zip(receipts) {
        check_receipt_place(receipt, position, block_hash)?;
        let encoding = receipt_encoding(receipt).map_err(|problem| ProofError::InvalidReceipt {
            position,
            problem: Box::new(problem),
        })?;
        leaves.push((receipt_key(position), encoding));
    }
    // The hash builder takes keys in nibble order, where rlp(0) = 0x80 comes after rlp(1..=127).
    leaves.sort_unstable_by_key(|(key, _)| *key);

    let target = receipt_key(index);
    let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(vec![target]));
    for (key, encoding) in &leaves {
        // Keys are distinct (RLP is injective) and sorted, as `add_leaf` requires.
        builder.add_leaf(*key, encoding);
    }
    let computed = builder.root();
    if computed != receipts_root {
        return Err(ProofError::ReceiptsRootMismatch {
            count,
            computed,
            header: receipts_root,
        });
    }
    let receipt_proof = builder
        .take_proof_nodes()
        .matching_nodes_sorted(&target)
        .into_iter()
        .map(|(_path, node)| node)
        .collect();

    let proof = ReceiptProof {
        header: header.into(),
        receipt_index: index,
        receipt_proof,
    };
    // A proof that does not verify would be a bug here, not in the chain's data: catch it now
    // rather than store a record that no one can check.
    verify(&proof, block_hash)?;
    Ok(proof)
}

/// Checks a proof against a block hash: keccak256 of the header must be the block hash, the
/// header's `receiptsRoot` must lead through the proof's nodes to a leaf under rlp(receipt_index),
/// and that leaf must hold a receipt. Returns the receipt with the block's number and timestamp.
pub fn verify(proof: &ReceiptProof, block_hash: B256) -> Result<ProvenReceipt, ProofError> {
    let header_hash = keccak256(&proof.header);
    if header_hash != block_hash {
        return Err(ProofError::BlockHashMismatch {
            header_hash,
            block_hash,
        });
    }
    let header = decode_header(&proof.header)?;

    let last = proof.receipt_proof.last().ok_or(ProofError::EmptyProof)?;
    let value = match TrieNode::decode(&mut last.as_ref()) {
        Ok(TrieNode::Leaf(leaf)) => leaf.value,
        _ => return Err(ProofError::ProofWithoutLeaf),
    };
    let key = alloy_rlp::encode(proof.receipt_index);
    verify_proof(
        header.receipts_root,
        Nibbles::unpack(&key),
        Some(value.clone()),
        &proof.receipt_proof,
    )
    .map_err(|source| ProofError::ProofMismatch {
        index: proof.receipt_index,
        key: key.into(),
        receipts_root: header.receipts_root,
        source: Box::new(source),
    })?;

    let receipt = decode_receipt(&value)?;
    Ok(ProvenReceipt {
        block_hash,
        block_number: header.number,
        timestamp: header.timestamp,
        success: receipt.success,
        logs: receipt.logs,
    })
}

/// The key of the receipt at `index` in the receipts trie: the nibbles of rlp(index).
fn receipt_key(index: u64) -> Nibbles {
    Nibbles::unpack(alloy_rlp::encode(index))
}

/// Checks that a receipt of the list given to [`build`] is the one at its position in the block.
fn check_receipt_place(receipt: &Value, position: u64, block: B256) -> Result<(), ProofError> {
    let in_list = |problem| ProofError::InvalidReceipt {
        position,
        problem: Box::new(problem),
    };
    let fields = JsonObject::new("receipt", receipt).map_err(in_list)?;
    let receipt_block = B256::from(fields.fixed::<32>("blockHash").map_err(in_list)?);
    if receipt_block != block {
        return Err(ProofError::ReceiptFromAnotherBlock {
            position,
            receipt_block,
            block,
        });
    }
    let transaction_index = fields.quantity("transactionIndex").map_err(in_list)?;
    let transaction_index = quantity_to_u64(&transaction_index)
        .ok_or_else(|| in_list(fields.malformed("transactionIndex", "more than 64 bits")))?;
    if transaction_index != position {
        return Err(ProofError::ReceiptOutOfOrder {
            position,
            transaction_index,
        });
    }
    Ok(())
}

/// Encodes one log of a JSON receipt as `rlp([address, [topics...], data])`.
fn encode_log(log: &Value, position: usize, out: &mut Vec<u8>) -> Result<(), ProofError> {
    let prefix = format!("logs[{position}]");
    let fields = JsonObject::new("log", log)
        .map_err(|_| malformed("receipt", &prefix, "a log is a JSON object"))?
        .nested("receipt", prefix);
    let mut payload = Vec::with_capacity(128);
    fields.encode_field("address", FieldKind::Fixed(20), &mut payload)?;
    let mut topics = Vec::new();
    for (position, topic) in fields.array("topics")?.iter().enumerate() {
        let path = fields.path(&format!("topics[{position}]"));
        let topic = parse_fixed::<32>(fields.object, &path, topic)?;
        topic.as_slice().encode(&mut topics);
    }
    payload.extend_from_slice(&rlp_list(&topics));
    fields.encode_field("data", FieldKind::Data, &mut payload)?;
    out.extend_from_slice(&rlp_list(&payload));
    Ok(())
}

/// Encodes a receipt status as the RLP integer 1 or 0 (the empty string).
fn encode_status(success: bool, out: &mut Vec<u8>) {
    u8::from(success).encode(out);
}

/// Wraps an RLP payload in a list header.
fn rlp_list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(payload);
    out
}

/// The header fields a proof needs.
#[derive(Debug)]
struct HeaderSummary {
    receipts_root: B256,
    number: u64,
    timestamp: u64,
}

/// Decodes the fields a proof needs from an RLP header.
fn decode_header(header: &[u8]) -> Result<HeaderSummary, ProofError> {
    let bad = |field: &'static str, reason: String| ProofError::MalformedHeader { field, reason };
    let mut rest = header;
    let items = match Header::decode_raw(&mut rest) {
        Ok(PayloadView::List(items)) => items,
        Ok(PayloadView::String(_)) => return Err(bad("list", "it is a string".to_owned())),
        Err(error) => return Err(bad("list", error.to_string())),
    };
    if !rest.is_empty() {
        return Err(bad("list", format!("{} bytes follow it", rest.len())));
    }
    if items.len() < BASE_HEADER_FIELDS.len() {
        return Err(bad(
            "list",
            format!(
                "it has {} fields, at least {} expected",
                items.len(),
                BASE_HEADER_FIELDS.len()
            ),
        ));
    }
    let receipts_root = rlp_string(items[RECEIPTS_ROOT_POSITION])
        .and_then(|bytes| B256::try_from(bytes).map_err(|_| "it is not 32 bytes".to_owned()))
        .map_err(|reason| bad("receiptsRoot", reason))?;
    let number = rlp_u64(items[NUMBER_POSITION]).map_err(|reason| bad("number", reason))?;
    let timestamp =
        rlp_u64(items[TIMESTAMP_POSITION]).map_err(|reason| bad("timestamp", reason))?;
    Ok(HeaderSummary {
        receipts_root,
        number,
        timestamp,
    })
}

/// A receipt decoded from its EIP-2718 encoding.
#[derive(Debug)]
struct DecodedReceipt {
    success: bool,
    logs: Vec<ReceiptLog>,
}

/// Decodes the receipt a proof leads to (legacy or typed, post-Byzantium).
fn decode_receipt(encoding: &[u8]) -> Result<DecodedReceipt, ProofError> {
    let bad = |reason: String| ProofError::MalformedProvenReceipt { reason };
    let body = match encoding.first() {
        Some(0xc0..) => encoding,
        Some(0x00..=0x7f) => &encoding[1..],
        Some(other) => {
            return Err(bad(format!(
                "it starts with {other:#04x}, neither a type nor a list"
            )));
        }
        None => return Err(bad("it is empty".to_owned())),
    };
    let fields = rlp_exact_list(body).map_err(|reason| bad(format!("its body: {reason}")))?;
    let [status, cumulative_gas_used, bloom, logs] = fields.as_slice() else {
        return Err(bad(format!("it has {} fields, 4 expected", fields.len())));
    };
    let success = match rlp_string(status).map_err(|reason| bad(format!("status: {reason}")))? {
        [] => false,
        [1] => true,
        bytes if bytes.len() == 32 => return Err(ProofError::PreByzantiumReceipt),
        _ => return Err(bad("its status is neither 0 nor 1".to_owned())),
    };
    rlp_u64(cumulative_gas_used).map_err(|reason| bad(format!("cumulativeGasUsed: {reason}")))?;
    let bloom = rlp_string(bloom).map_err(|reason| bad(format!("logsBloom: {reason}")))?;
    if bloom.len() != BLOOM_LEN {
        return Err(bad(format!(
            "its logs bloom has {} bytes, not {BLOOM_LEN}",
            bloom.len()
        )));
    }
    let logs = rlp_exact_list(logs)
        .map_err(|reason| bad(format!("logs: {reason}")))?
        .into_iter()
        .enumerate()
        .map(|(position, log)| {
            decode_log(log).map_err(|reason| bad(format!("logs[{position}]: {reason}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(DecodedReceipt { success, logs })
}

/// Decodes one log, `rlp([address, [topics...], data])`.
fn decode_log(item: &[u8]) -> Result<ReceiptLog, String> {
    let fields = rlp_exact_list(item)?;
    let [address, topics, data] = fields.as_slice() else {
        return Err(format!("it has {} fields, 3 expected", fields.len()));
    };
    let address = Address::try_from(rlp_string(address)?)
        .map_err(|_| "its address is not 20 bytes".to_owned())?;
    let topics = rlp_exact_list(topics)?
        .into_iter()
        .map(|topic| {
            B256::try_from(rlp_string(topic)?).map_err(|_| "a topic is not 32 bytes".to_owned())
        })
        .collect::<Result<_, _>>()?;
    let data = Bytes::copy_from_slice(rlp_string(data)?);
    Ok(ReceiptLog {
        address,
        topics,
        data,
    })
}

/// The items of an RLP list that spans all of `item`.
fn rlp_exact_list(item: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut rest = item;
    let items = match Header::decode_raw(&mut rest).map_err(|error| error.to_string())? {
        PayloadView::List(items) => items,
        PayloadView::String(_) => return Err("a string where a list belongs".to_owned()),
    };
    if !rest.is_empty() {
        return Err(format!("{} bytes follow the list", rest.len()));
    }
    Ok(items)
}

/// The payload of an RLP string that spans all of `item`.
fn rlp_string(item: &[u8]) -> Result<&[u8], String> {
    let mut rest = item;
    let payload = Header::decode_bytes(&mut rest, false).map_err(|error| error.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes follow the string", rest.len()));
    }
    Ok(payload)
}

/// An RLP integer of at most 64 bits that spans all of `item` (canonical: no leading zeros).
fn rlp_u64(item: &[u8]) -> Result<u64, String> {
    let mut rest = item;
    let value = u64::decode(&mut rest).map_err(|error| error.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes follow the integer", rest.len()));
    }
    Ok(value)
}

/// A big-endian quantity without leading zeros as a `u64`, if it fits.
fn quantity_to_u64(quantity: &[u8]) -> Option<u64> {
    if quantity.len() > 8 {
        return None;
    }
    Some(
        quantity
            .iter()
            .fold(0, |value, byte| (value << 8) | u64::from(*byte)),
    )
}

/// The members of a JSON-RPC object, with the names errors need.
#[derive(Debug)]
struct JsonObject<'a> {
    /// `block`, `receipt` or `log`: what errors call the object.
    object: &'static str,
    /// Prepended to member names in errors, for nested objects (`logs[1]`).
    prefix: Option<String>,
    members: &'a Map<String, Value>,
}

impl<'a> JsonObject<'a> {
    fn new(object: &'static str, value: &'a Value) -> Result<Self, ProofError> {
        match value {
            Value::Object(members) => Ok(Self {
                object,
                prefix: None,
                members,
            }),
            _ => Err(ProofError::NotAnObject { object }),
        }
    }

    /// The same members, named in errors as `prefix.name` of `object`.
    fn nested(self, object: &'static str, prefix: String) -> Self {
        Self {
            object,
            prefix: Some(prefix),
            members: self.members,
        }
    }

    /// A member's name as errors give it.
    fn path(&self, name: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}.{name}"),
            None => name.to_owned(),
        }
    }

    /// A member, `None` when absent or `null`.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.members.get(name).filter(|value| !value.is_null())
    }

    fn required(&self, name: &str) -> Result<&'a Value, ProofError> {
        self.get(name).ok_or_else(|| self.missing(name))
    }

    fn missing(&self, name: &str) -> ProofError {
        ProofError::MissingField {
            object: self.object,
            field: self.path(name),
        }
    }

    fn malformed(&self, name: &str, reason: &str) -> ProofError {
        malformed(self.object, &self.path(name), reason)
    }

    fn array(&self, name: &str) -> Result<&'a Vec<Value>, ProofError> {
        self.required(name)?
            .as_array()
            .ok_or_else(|| self.malformed(name, "not a JSON array"))
    }

    fn fixed<const N: usize>(&self, name: &str) -> Result<[u8; N], ProofError> {
        parse_fixed(self.object, &self.path(name), self.required(name)?)
    }

    fn quantity(&self, name: &str) -> Result<Vec<u8>, ProofError> {
        parse_quantity(self.object, &self.path(name), self.required(name)?)
    }

    /// Appends the RLP of a member.
    fn encode_field(
        &self,
        name: &str,
        kind: FieldKind,
        out: &mut Vec<u8>,
    ) -> Result<(), ProofError> {
        let value = self.required(name)?;
        let path = self.path(name);
        let bytes = match kind {
            FieldKind::Fixed(len) => {
                let bytes = parse_data(self.object, &path, value)?;
                if bytes.len() != len {
                    return Err(malformed(
                        self.object,
                        &path,
                        &format!("{} bytes, {len} expected", bytes.len()),
                    ));
                }
                bytes
            }
            FieldKind::Data => parse_data(self.object, &path, value)?,
            FieldKind::Quantity => parse_quantity(self.object, &path, value)?,
        };
        bytes.as_slice().encode(out);
        Ok(())
    }
}

fn malformed(object: &'static str, field: &str, reason: &str) -> ProofError {
    ProofError::MalformedField {
        object,
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// JSON-RPC data: a `0x`-prefixed string of an even number of hex digits.
fn parse_data(object: &'static str, field: &str, value: &Value) -> Result<Vec<u8>, ProofError> {
    let digits = value
        .as_str()
        .and_then(|text| text.strip_prefix("0x"))
        .ok_or_else(|| malformed(object, field, "not a 0x-prefixed hex string"))?;
    hex::decode(digits).map_err(|error| malformed(object, field, &error.to_string()))
}

/// JSON-RPC data of exactly `N` bytes.
fn parse_fixed<const N: usize>(
    object: &'static str,
    field: &str,
    value: &Value,
) -> Result<[u8; N], ProofError> {
    let bytes = parse_data(object, field, value)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        malformed(
            object,
            field,
            &format!("{} bytes, {N} expected", bytes.len()),
        )
    })
}

/// A JSON-RPC quantity (`0x` and hex digits, `0x0` for zero) as big-endian bytes without leading
/// zeros: empty for zero, as RLP encodes integers. Leading zero digits are tolerated.
fn parse_quantity(object: &'static str, field: &str, value: &Value) -> Result<Vec<u8>, ProofError> {
    let digits = value
        .as_str()
        .and_then(|text| text.strip_prefix("0x"))
        .filter(|digits| !digits.is_empty())
        .ok_or_else(|| {
            malformed(
                object,
                field,
                "not a hex quantity (0x followed by hex digits)",
            )
        })?;
    let significant = digits.trim_start_matches('0');
    if significant.len() > 64 {
        return Err(malformed(object, field, "a quantity has at most 256 bits"));
    }
    let padded = if significant.len() % 2 == 1 {
        format!("0{significant}")
    } else {
        significant.to_owned()
    };
    hex::decode(padded).map_err(|error| malformed(object, field, &error.to_string()))
}

/// Serde for one byte string as `0x`-prefixed hex.
mod hex_bytes {
    use alloy_primitives::{Bytes, hex};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(
        bytes: &Bytes,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode_prefixed(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Bytes, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(D::Error::custom)
    }

    /// `0x` followed by an even number of hex digits.
    pub(super) fn parse(text: &str) -> Result<Bytes, String> {
        let digits = text
            .strip_prefix("0x")
            .ok_or_else(|| format!("expected 0x-prefixed hex, found {text:?}"))?;
        hex::decode(digits)
            .map(Bytes::from)
            .map_err(|error| format!("invalid hex {text:?}: {error}"))
    }
}

/// Serde for a list of byte strings, each as `0x`-prefixed hex.
mod hex_bytes_list {
    use alloy_primitives::{Bytes, hex};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(
        list: &[Bytes],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(list.iter().map(hex::encode_prefixed))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Bytes>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| super::hex_bytes::parse(text).map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = include_str!("../tests/data/block.json");
    const RECEIPTS: &str = include_str!("../tests/data/receipts.json");

    fn block() -> Value {
        serde_json::from_str(BLOCK).unwrap()
    }

    fn receipts() -> Vec<Value> {
        serde_json::from_str(RECEIPTS).unwrap()
    }

    fn block_hash() -> B256 {
        block()["hash"].as_str().unwrap().parse().unwrap()
    }

    fn proof_of(index: u64) -> ReceiptProof {
        build(&block(), &receipts(), index).unwrap()
    }

    fn hex_to_bytes(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    #[test]
    fn the_header_encoding_hashes_to_the_block_hash() {
        let (header, hash) = header_rlp(&block()).unwrap();
        assert_eq!(hash, block_hash());
        assert_eq!(keccak256(&header), hash);
        // The fixture is a Prague block: all 21 fields, the fork ones included.
        let mut rest = header.as_slice();
        let Ok(PayloadView::List(items)) = Header::decode_raw(&mut rest) else {
            panic!("the header is not a list");
        };
        assert_eq!(
            items.len(),
            BASE_HEADER_FIELDS.len() + FORK_HEADER_FIELDS.len()
        );
    }

    #[test]
    fn the_decoded_field_positions_are_those_of_the_field_table() {
        assert_eq!(BASE_HEADER_FIELDS[RECEIPTS_ROOT_POSITION].0, "receiptsRoot");
        assert_eq!(BASE_HEADER_FIELDS[NUMBER_POSITION].0, "number");
        assert_eq!(BASE_HEADER_FIELDS[TIMESTAMP_POSITION].0, "timestamp");
    }

    #[test]
    fn every_receipt_of_the_block_builds_and_verifies() {
        let block = block();
        let receipts = receipts();
        assert!(
            receipts.len() >= 4,
            "the fixture block should hold several transactions"
        );
        for (index, receipt) in (0u64..).zip(&receipts) {
            let proof = build(&block, &receipts, index).unwrap();
            assert_eq!(proof.receipt_index, index);
            let proven = verify(&proof, block_hash()).unwrap();

            assert_eq!(proven.block_hash, block_hash());
            assert_eq!(proven.block_number, 2);
            assert_eq!(proven.timestamp, 0x6b04_6fda);
            assert_eq!(
                proven.success,
                receipt["status"] == "0x1",
                "status of receipt {index}"
            );
            let logs = receipt["logs"].as_array().unwrap();
            assert_eq!(proven.logs.len(), logs.len(), "logs of receipt {index}");
            for (proven_log, log) in proven.logs.iter().zip(logs) {
                assert_eq!(
                    proven_log.address,
                    log["address"].as_str().unwrap().parse::<Address>().unwrap()
                );
                let topics: Vec<B256> = log["topics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|topic| topic.as_str().unwrap().parse().unwrap())
                    .collect();
                assert_eq!(proven_log.topics, topics);
                assert_eq!(
                    proven_log.data.as_ref(),
                    hex_to_bytes(log["data"].as_str().unwrap()).as_slice()
                );
            }
        }
    }

    #[test]
    fn the_fixture_covers_receipt_types_reverts_and_logs() {
        let receipts = receipts();
        let types: Vec<&str> = receipts
            .iter()
            .map(|r| r["type"].as_str().unwrap())
            .collect();
        assert!(types.contains(&"0x0") && types.contains(&"0x1") && types.contains(&"0x2"));
        let proofs: Vec<ProvenReceipt> = (0..receipts.len() as u64)
            .map(|index| verify(&proof_of(index), block_hash()).unwrap())
            .collect();
        assert!(proofs.iter().any(|proven| !proven.success));

        // Transaction 3 calls the test contract, which emits LOG2(0x2a, topic, caller) then LOG0().
        let logging = &proofs[3];
        assert!(logging.success);
        let contract: Address = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
            .parse()
            .unwrap();
        let mut word = [0u8; 32];
        word[31] = 0x2a;
        assert_eq!(logging.logs[0].address, contract);
        assert_eq!(
            logging.logs[0].topics[0].as_slice(),
            b"tagtrail-anchor-test-topic-00001"
        );
        assert_eq!(logging.logs[0].data.as_ref(), word.as_slice());
        assert_eq!(
            logging.logs[1],
            ReceiptLog {
                address: contract,
                topics: Vec::new(),
                data: Bytes::new()
            }
        );
    }

    #[test]
    fn the_receipt_encoding_of_a_legacy_receipt_has_no_type_byte() {
        let receipts = receipts();
        assert_eq!(receipts[0]["type"], "0x0");
        assert_eq!(receipt_encoding(&receipts[0]).unwrap()[0] & 0xc0, 0xc0);
        assert_eq!(receipts[1]["type"], "0x1");
        assert_eq!(receipt_encoding(&receipts[1]).unwrap()[0], 0x01);
        assert_eq!(receipts[2]["type"], "0x2");
        assert_eq!(receipt_encoding(&receipts[2]).unwrap()[0], 0x02);
    }

    #[test]
    fn a_changed_header_byte_fails_against_the_block_hash() {
        let mut proof = proof_of(3);
        let mut header = proof.header.to_vec();
        // A byte inside the logs bloom: the header still decodes, but no longer hashes right.
        let middle = header.len() / 2;
        header[middle] ^= 0x01;
        proof.header = header.into();
        assert!(matches!(
            verify(&proof, block_hash()),
            Err(ProofError::BlockHashMismatch { block_hash: expected, .. }) if expected == block_hash()
        ));
    }

    #[test]
    fn a_wrong_block_hash_fails() {
        let proof = proof_of(3);
        let other = B256::repeat_byte(0x11);
        let error = verify(&proof, other).unwrap_err();
        assert_eq!(
            error,
            ProofError::BlockHashMismatch {
                header_hash: block_hash(),
                block_hash: other
            }
        );
        assert!(
            error
                .to_string()
                .starts_with("the header hashes to 0xb2f954d1"),
            "{error}"
        );
    }

    #[test]
    fn a_changed_proof_node_fails() {
        let original = proof_of(3);
        for node_position in 0..original.receipt_proof.len() {
            let mut proof = original.clone();
            let mut node = proof.receipt_proof[node_position].to_vec();
            // The last byte: in a leaf, the end of the receipt's last log; in a branch, the value
            // slot or the last child hash.
            *node.last_mut().unwrap() ^= 0x01;
            proof.receipt_proof[node_position] = node.into();
            let error = verify(&proof, block_hash()).unwrap_err();
            assert!(
                matches!(error, ProofError::ProofMismatch { index: 3, .. }),
                "node {node_position}: {error}"
            );
        }
    }

    #[test]
    fn any_flipped_bit_of_any_proof_node_fails() {
        let original = proof_of(5);
        for node_position in 0..original.receipt_proof.len() {
            for byte in 0..original.receipt_proof[node_position].len() {
                for bit in 0..8 {
                    let mut proof = original.clone();
                    let mut node = proof.receipt_proof[node_position].to_vec();
                    node[byte] ^= 1 << bit;
                    proof.receipt_proof[node_position] = node.into();
                    assert!(
                        verify(&proof, block_hash()).is_err(),
                        "node {node_position}, byte {byte}, bit {bit}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_changed_receipt_in_the_leaf_fails_with_a_proof_mismatch() {
        let mut proof = proof_of(3);
        let leaf = proof.receipt_proof.last_mut().unwrap();
        let mut bytes = leaf.to_vec();
        // The last byte of LOG2's data word, 0x2a, comes just before the 24 bytes of the empty
        // LOG0 (list header, address string, empty topic list, empty data).
        let position = bytes.len() - 25;
        assert_eq!(bytes[position], 0x2a);
        bytes[position] ^= 0x01;
        *leaf = bytes.into();
        let error = verify(&proof, block_hash()).unwrap_err();
        assert!(
            matches!(error, ProofError::ProofMismatch { index: 3, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("under key 0x03"), "{error}");
    }

    #[test]
    fn a_dropped_proof_node_fails() {
        let original = proof_of(3);
        assert_eq!(
            original.receipt_proof.len(),
            3,
            "root branch, branch of keys 0x01..0x05, leaf"
        );

        let mut without_root = original.clone();
        without_root.receipt_proof.remove(0);
        assert!(matches!(
            verify(&without_root, block_hash()),
            Err(ProofError::ProofMismatch { index: 3, .. })
        ));

        let mut without_middle = original.clone();
        without_middle.receipt_proof.remove(1);
        assert!(matches!(
            verify(&without_middle, block_hash()),
            Err(ProofError::ProofMismatch { index: 3, .. })
        ));

        let mut without_leaf = original.clone();
        without_leaf.receipt_proof.pop();
        assert_eq!(
            verify(&without_leaf, block_hash()),
            Err(ProofError::ProofWithoutLeaf)
        );

        let mut empty = original;
        empty.receipt_proof.clear();
        assert_eq!(verify(&empty, block_hash()), Err(ProofError::EmptyProof));
    }

    #[test]
    fn a_wrong_receipt_index_fails() {
        for wrong_index in [0, 2, 4, 6, 128] {
            let mut proof = proof_of(3);
            proof.receipt_index = wrong_index;
            let error = verify(&proof, block_hash()).unwrap_err();
            assert!(
                matches!(error, ProofError::ProofMismatch { index, .. } if index == wrong_index),
                "index {wrong_index}: {error}"
            );
        }
    }

    #[test]
    fn receipt_zero_sorts_after_the_others_and_proves() {
        // rlp(0) = 0x80: under the root's nibble 8, beside the branch of 0x01..0x05 under nibble 0.
        let proof = proof_of(0);
        assert_eq!(proof.receipt_proof.len(), 2, "root branch, leaf");
        assert!(verify(&proof, block_hash()).unwrap().success);
    }

    #[test]
    fn a_receipt_list_missing_the_last_receipt_fails_the_root_check() {
        let mut receipts = receipts();
        receipts.pop();
        let error = build(&block(), &receipts, 0).unwrap_err();
        assert!(
            matches!(error, ProofError::ReceiptsRootMismatch { count: 5, .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("built from 5 receipts"),
            "{error}"
        );
    }

    #[test]
    fn a_receipt_list_missing_a_middle_receipt_is_out_of_order() {
        let mut receipts = receipts();
        receipts.remove(2);
        assert_eq!(
            build(&block(), &receipts, 0),
            Err(ProofError::ReceiptOutOfOrder {
                position: 2,
                transaction_index: 3
            })
        );
    }

    #[test]
    fn a_receipt_of_another_block_is_refused() {
        let mut receipts = receipts();
        receipts[1]["blockHash"] = Value::from(format!("{}", B256::repeat_byte(0x22)));
        assert!(matches!(
            build(&block(), &receipts, 0),
            Err(ProofError::ReceiptFromAnotherBlock { position: 1, .. })
        ));
    }

    #[test]
    fn an_index_beyond_the_block_is_refused() {
        assert_eq!(
            build(&block(), &receipts(), 6),
            Err(ProofError::IndexOutOfRange { index: 6, count: 6 })
        );
    }

    #[test]
    fn a_header_field_this_version_does_not_know_is_named_in_the_error() {
        let mut block = block();
        // As if the chain had a fork field after requestsHash: the JSON lacks it, so our encoding
        // differs from the hashed one. Simulate by dropping the last field we know.
        block.as_object_mut().unwrap().remove("requestsHash");
        let error = header_rlp(&block).unwrap_err();
        assert!(
            matches!(error, ProofError::HeaderEncodingMismatch { .. }),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("header fields this version does not know"),
            "{error}"
        );
    }

    #[test]
    fn a_gap_in_the_fork_fields_is_refused() {
        let mut block = block();
        block.as_object_mut().unwrap().remove("withdrawalsRoot");
        assert_eq!(
            header_rlp(&block),
            Err(ProofError::HeaderFieldGap {
                missing: "withdrawalsRoot",
                present: "blobGasUsed"
            })
        );
    }

    #[test]
    fn a_missing_or_malformed_field_is_named() {
        let mut block = block();
        block.as_object_mut().unwrap().remove("receiptsRoot");
        assert_eq!(
            header_rlp(&block),
            Err(ProofError::MissingField {
                object: "block",
                field: "receiptsRoot".to_owned()
            })
        );
        assert_eq!(
            header_rlp(&Value::Null),
            Err(ProofError::NotAnObject { object: "block" })
        );

        let mut receipts = receipts();
        receipts[3]["logs"][1]["address"] = Value::from("0x1234");
        let error = build(&self::block(), &receipts, 0).unwrap_err();
        assert!(
            matches!(&error, ProofError::InvalidReceipt { position: 3, problem }
                if matches!(problem.as_ref(), ProofError::MalformedField { field, .. } if field == "logs[1].address")),
            "{error}"
        );
    }

    #[test]
    fn a_pre_byzantium_receipt_is_refused() {
        let mut receipt = receipts()[0].clone();
        let members = receipt.as_object_mut().unwrap();
        members.remove("status");
        members.insert(
            "root".to_owned(),
            Value::from(format!("{}", B256::repeat_byte(0x33))),
        );
        assert_eq!(
            receipt_encoding(&receipt),
            Err(ProofError::PreByzantiumReceipt)
        );
    }

    #[test]
    fn a_receipt_proof_round_trips_through_json() {
        let proof = proof_of(3);
        let json = serde_json::to_value(&proof).unwrap();
        assert_eq!(json["receiptIndex"], 3);
        assert!(json["header"].as_str().unwrap().starts_with("0xf9"));
        assert_eq!(json["receiptProof"].as_array().unwrap().len(), 3);
        let back: ReceiptProof = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, proof);
        assert_eq!(verify(&back, block_hash()), verify(&proof, block_hash()));

        let mut unknown = json.clone();
        unknown["blockHash"] = Value::from("0x00");
        assert!(serde_json::from_value::<ReceiptProof>(unknown).is_err());
        let mut unprefixed = json;
        unprefixed["header"] = Value::from("f9");
        assert!(serde_json::from_value::<ReceiptProof>(unprefixed).is_err());
    }

    proptest::proptest! {
        /// Arbitrary header and node bytes, checked against the hash of that header (so the
        /// header check passes and the decoding and trie walk run on garbage): refused, never a
        /// panic and never a receipt.
        #[test]
        fn arbitrary_proofs_are_refused_without_panicking(
            header in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            nodes in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 0..4),
            index in 0u64..300,
        ) {
            let proof = ReceiptProof {
                header: header.into(),
                receipt_index: index,
                receipt_proof: nodes.into_iter().map(Bytes::from).collect(),
            };
            let hash = keccak256(&proof.header);
            proptest::prop_assert!(verify(&proof, hash).is_err());
        }
    }
}
