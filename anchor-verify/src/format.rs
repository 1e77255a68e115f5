//! The on-chain format, versions 1 and 2: what an anchor transaction sends and what the contract
//! emits. Version 2 adds, after the root, the verifiable index's size and root that a checkpoint's
//! one extension line commits to (`tagtrail-index <size> <base64 root>`); the signature is then
//! over the checkpoint text with that line.
//!
//! Every byte is described in `anchor/README.md`, "The on-chain format". In short: the transaction
//! calls the anchor contract with `origin topic (32 bytes) || payload (109 bytes)`; the contract
//! emits `LOG2(topic0 = keccak256("tagtrail-anchor"), topic1 = origin topic, data = payload)`, where
//! the origin topic is `keccak256(origin)` and the payload is
//!
//! | offset | length | field |
//! | --- | --- | --- |
//! | 0 | 1 | version, `0x01` |
//! | 1 | 8 | tree size, big-endian |
//! | 9 | 32 | root hash (RFC 6962 SHA-256) |
//! | 41 | 4 | the signing key's id (C2SP signed-note key hash) |
//! | 45 | 64 | the key's Ed25519 signature of the checkpoint's note text |
//!
//! so anyone who knows the log's origin finds its anchors with `eth_getLogs` (topics
//! `[ANCHOR_TOPIC, origin_topic(origin)]`), and anyone who knows its public key tells its anchors from
//! anyone else's: the signature is over `<origin>\n<size>\n<base64 root>\n`, the checkpoint text.

use alloy_primitives::{Address, B256, keccak256};
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::index::IndexCommitment;
use ledger::note::{KeyId, Note, NoteVerifiers};
use ledger::{RootHash, TreeSize};

/// The string whose Keccak-256 hash is every anchor event's first topic.
pub const ANCHOR_TOPIC_PREIMAGE: &str = "tagtrail-anchor";

/// The version byte of the payload of a checkpoint without extension lines.
pub const PAYLOAD_VERSION: u8 = 1;

/// The length of a version 1 payload.
pub const PAYLOAD_LEN: usize = 1 + 8 + 32 + 4 + 64;

/// The version byte of the payload of a checkpoint that commits to the verifiable index (one
/// extension line, `ledger::index::IndexCommitment`).
pub const PAYLOAD_VERSION_INDEXED: u8 = 2;

/// The length of a version 2 payload: version 1's fields with the index's size and root after the
/// tree's root.
pub const PAYLOAD_INDEXED_LEN: usize = PAYLOAD_LEN + 8 + 32;

/// The anchor contract's code, as deployed: 11 bytes of init code, then the 64-byte runtime
/// (`anchor-verify/contract/anchor.evm` is the listing).
pub const CONTRACT_HEX: &str = include_str!("../contract/anchor.hex");

/// Length of the init code at the start of [`CONTRACT_HEX`].
const INIT_CODE_LEN: usize = 11;

/// The first topic of every anchor event: `keccak256("tagtrail-anchor")`.
pub fn anchor_topic() -> B256 {
    keccak256(ANCHOR_TOPIC_PREIMAGE.as_bytes())
}

/// The second topic of a log's anchor events: `keccak256(origin)`, the hash Solidity gives an
/// indexed `string` (so `cast keccak "<origin>"` computes it too).
pub fn origin_topic(origin: &Origin) -> B256 {
    keccak256(origin.as_str().as_bytes())
}

/// The contract's deployment code (init code and runtime).
pub fn contract_code() -> Vec<u8> {
    decode_hex_listing(CONTRACT_HEX)
}

/// The contract's runtime code, as `eth_getCode` returns it once deployed.
pub fn contract_runtime() -> Vec<u8> {
    contract_code().split_off(INIT_CODE_LEN)
}

fn decode_hex_listing(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|digit| match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => digit - b'A' + 10,
        })
        .collect();
    digits
        .chunks_exact(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect()
}

/// The address a contract created by `sender` with `nonce` gets (CREATE): the last 20 bytes of
/// `keccak256(rlp([sender, nonce]))`. The worker deploys the contract as its key's first
/// transaction, so with no contract configured it is `create_address(signer, 0)`.
pub fn create_address(sender: &Address, nonce: u64) -> Address {
    sender.create(nonce)
}

/// What one anchor commits to: a checkpoint's size and root, what it commits to of the
/// verifiable index (version 2), and one signature of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub size: TreeSize,
    pub root: RootHash,
    pub index: Option<IndexCommitment>,
    pub key_id: KeyId,
    pub signature: [u8; 64],
}

/// Why bytes are not an anchor payload, or a checkpoint cannot be anchored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the payload is empty")]
    Empty,
    #[error("payload version {0} is not known to this version of tagtrail (it knows version 1)")]
    UnknownVersion(u8),
    #[error(
        "a version 1 payload is {PAYLOAD_LEN} bytes and a version 2 payload {PAYLOAD_INDEXED_LEN}, found {0}"
    )]
    WrongLength(usize),
    #[error("the payload's tree size {0} is out of range")]
    BadSize(u64),
    #[error("the checkpoint has no Ed25519 signature to anchor")]
    NoSignature,
    #[error(
        "the checkpoint's extension lines are not one index commitment, which is all an anchor can reproduce: {0}"
    )]
    Extensions(String),
    #[error("the payload's index covers {index} entries, more than its tree's {tree}")]
    IndexBeyondTree { index: u64, tree: u64 },
    #[error("the checkpoint is not a signed checkpoint: {0}")]
    Checkpoint(String),
}

impl Payload {
    /// The payload of a signed checkpoint (as published), with its first signature.
    pub fn of_checkpoint(note_text: &str) -> Result<(Origin, Self), FormatError> {
        let note =
            Note::parse(note_text).map_err(|error| FormatError::Checkpoint(error.to_string()))?;
        let checkpoint = Checkpoint::from_text(note.text())
            .map_err(|error| FormatError::Checkpoint(error.to_string()))?;
        let index = IndexCommitment::of_checkpoint(&checkpoint)
            .map_err(|error| FormatError::Extensions(error.to_string()))?;
        let signature = note
            .signatures()
            .iter()
            .find_map(|signature| {
                <[u8; 64]>::try_from(signature.signature())
                    .ok()
                    .map(|bytes| (signature.id(), bytes))
            })
            .ok_or(FormatError::NoSignature)?;
        Ok((
            checkpoint.origin().clone(),
            Self {
                size: checkpoint.size(),
                root: *checkpoint.root(),
                index,
                key_id: signature.0,
                signature: signature.1,
            },
        ))
    }

    /// The payload bytes: 109 in version 1, 149 in version 2 (with an index commitment).
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(PAYLOAD_INDEXED_LEN);
        bytes.push(match self.index {
            None => PAYLOAD_VERSION,
            Some(_) => PAYLOAD_VERSION_INDEXED,
        });
        bytes.extend_from_slice(&self.size.get().to_be_bytes());
        bytes.extend_from_slice(self.root.as_bytes());
        if let Some(index) = &self.index {
            bytes.extend_from_slice(&index.size.get().to_be_bytes());
            bytes.extend_from_slice(index.root.as_bytes());
        }
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        bytes
    }

    /// Reads a payload (an anchor event's data).
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let (&version, rest) = bytes.split_first().ok_or(FormatError::Empty)?;
        let length = match version {
            PAYLOAD_VERSION => PAYLOAD_LEN,
            PAYLOAD_VERSION_INDEXED => PAYLOAD_INDEXED_LEN,
            _ => return Err(FormatError::UnknownVersion(version)),
        };
        if bytes.len() != length {
            return Err(FormatError::WrongLength(bytes.len()));
        }
        let (size, rest) = rest.split_at(8);
        let (root, rest) = rest.split_at(32);
        let (index, rest) = if version == PAYLOAD_VERSION_INDEXED {
            let (index_size, rest) = rest.split_at(8);
            let (index_root, rest) = rest.split_at(32);
            let index_size = u64::from_be_bytes(
                index_size
                    .try_into()
                    .map_err(|_| FormatError::WrongLength(bytes.len()))?,
            );
            let index_root = ledger::Hash::from_slice(index_root)
                .map_err(|_| FormatError::WrongLength(bytes.len()))?;
            let size = TreeSize::new(index_size).map_err(|_| FormatError::BadSize(index_size))?;
            (
                Some(IndexCommitment {
                    size,
                    root: index_root,
                }),
                rest,
            )
        } else {
            (None, rest)
        };
        let (key_id, signature) = rest.split_at(4);
        let size = u64::from_be_bytes(
            size.try_into()
                .map_err(|_| FormatError::WrongLength(bytes.len()))?,
        );
        let size = TreeSize::new(size).map_err(|_| FormatError::BadSize(size))?;
        if let Some(index) = &index
            && index.size > size
        {
            return Err(FormatError::IndexBeyondTree {
                index: index.size.get(),
                tree: size.get(),
            });
        }
        Ok(Self {
            size,
            index,
            root: RootHash::from_bytes(
                root.try_into()
                    .map_err(|_| FormatError::WrongLength(bytes.len()))?,
            ),
            key_id: KeyId::from_u32(u32::from_be_bytes(
                key_id
                    .try_into()
                    .map_err(|_| FormatError::WrongLength(bytes.len()))?,
            )),
            signature: signature
                .try_into()
                .map_err(|_| FormatError::WrongLength(bytes.len()))?,
        })
    }

    /// The calldata of the anchor transaction: the origin topic, then the payload.
    pub fn calldata(&self, origin: &Origin) -> Vec<u8> {
        let mut data = origin_topic(origin).to_vec();
        data.extend_from_slice(&self.encode());
        data
    }

    /// The checkpoint text the signature is over: with the index commitment's extension line in
    /// version 2.
    pub fn checkpoint_text(&self, origin: &Origin) -> String {
        let checkpoint = Checkpoint::new(origin.clone(), self.size, self.root);
        match &self.index {
            None => checkpoint.to_text(),
            // An index line is never empty nor holds a control character: it is always accepted.
            Some(index) => checkpoint
                .with_extensions(vec![index.to_line()])
                .map_or_else(|_| String::new(), |checkpoint| checkpoint.to_text()),
        }
    }

    /// Whether one of `keys` (the log's published checkpoint keys) made the signature, over this
    /// payload's checkpoint of `origin`.
    pub fn signed_by(&self, origin: &Origin, keys: &NoteVerifiers) -> bool {
        let text = self.checkpoint_text(origin);
        keys.keys()
            .iter()
            .filter(|key| key.id() == self.key_id)
            .any(|key| key.verify(text.as_bytes(), &self.signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::note::{KeyName, NoteSignerKey};

    /// The opcodes the listing uses, checked against the Ethereum yellow paper's table by hand.
    const OPCODES: &[(&str, u8)] = &[
        ("STOP", 0x00),
        ("SUB", 0x03),
        ("GT", 0x11),
        ("OR", 0x17),
        ("CALLVALUE", 0x34),
        ("CALLDATALOAD", 0x35),
        ("CALLDATASIZE", 0x36),
        ("CALLDATACOPY", 0x37),
        ("CODECOPY", 0x39),
        ("JUMPI", 0x57),
        ("JUMPDEST", 0x5b),
        ("PUSH1", 0x60),
        ("PUSH32", 0x7f),
        ("DUP1", 0x80),
        ("LOG2", 0xa2),
        ("RETURN", 0xf3),
        ("REVERT", 0xfd),
    ];

    /// Assembles `anchor-verify/contract/anchor.evm`: each line is the instruction's bytes in hex, its
    /// mnemonic and a comment; the bytes must be the mnemonic's opcode and, for PUSHn, n more.
    fn assemble(listing: &str) -> Vec<u8> {
        let mut code = Vec::new();
        for (number, line) in listing.lines().enumerate() {
            let line = line.split(';').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut bytes = Vec::new();
            let mut words = line.split_whitespace();
            let mnemonic = loop {
                let word = words.next().expect("a mnemonic after the bytes");
                match u8::from_str_radix(word, 16) {
                    Ok(byte) if word.len() == 2 => bytes.push(byte),
                    _ => break word,
                }
            };
            let opcode = OPCODES
                .iter()
                .find(|(name, _)| *name == mnemonic)
                .unwrap_or_else(|| panic!("line {}: unknown mnemonic {mnemonic}", number + 1))
                .1;
            assert_eq!(bytes[0], opcode, "line {}: {mnemonic}", number + 1);
            let immediate = mnemonic
                .strip_prefix("PUSH")
                .map_or(0, |n| n.parse::<usize>().expect("PUSHn"));
            assert_eq!(
                bytes.len(),
                1 + immediate,
                "line {}: {mnemonic}",
                number + 1
            );
            code.extend_from_slice(&bytes);
        }
        code
    }

    #[test]
    fn the_contract_listing_assembles_to_the_committed_bytecode() {
        let code = assemble(include_str!("../contract/anchor.evm"));
        assert_eq!(code, contract_code());
        assert_eq!(code.len(), INIT_CODE_LEN + 64);
        let runtime = contract_runtime();
        assert_eq!(runtime.len(), 64);
        // The init code copies and returns exactly the runtime.
        assert_eq!(&code[..4], &[0x60, 64, 0x80, 0x60]);
        assert_eq!(code[4] as usize, INIT_CODE_LEN);
        // The runtime pushes the anchor topic at offset 0x0c and jumps to its JUMPDEST at 0x3b.
        assert_eq!(&runtime[0x0d..0x2d], anchor_topic().as_slice());
        assert_eq!(runtime[0x07], 0x3b);
        assert_eq!(runtime[0x3b], 0x5b);
    }

    #[test]
    fn the_anchor_topic_is_the_hash_of_its_preimage() {
        assert_eq!(
            anchor_topic().to_string(),
            "0xd96223ed00647c3949fd9c1f3805bdbd7e1809c45e3cb85ad27b1d5d47f853a4"
        );
    }

    fn signed_checkpoint(size: u64) -> (String, NoteSignerKey) {
        let name = KeyName::parse("tagtrail.example/log").expect("name");
        let key = NoteSignerKey::from_seed(name, &[7; 32]);
        let checkpoint = Checkpoint::new(
            Origin::parse("tagtrail.example/log").expect("origin"),
            TreeSize::new(size).expect("size"),
            RootHash::from_bytes([0xab; 32]),
        );
        let note = checkpoint.sign(&[&key]).expect("sign");
        (note.to_message(), key)
    }

    #[test]
    fn a_payload_round_trips_and_proves_who_signed_it() {
        let (message, key) = signed_checkpoint(10_000_000);
        let (origin, payload) = Payload::of_checkpoint(&message).expect("payload");
        let bytes = payload.encode();
        assert_eq!(bytes.len(), PAYLOAD_LEN);
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..9], &10_000_000u64.to_be_bytes());
        assert_eq!(&bytes[9..41], &[0xab; 32]);
        assert_eq!(&bytes[41..45], &key.id().to_be_bytes());
        assert_eq!(Payload::decode(&bytes), Ok(payload.clone()));
        let calldata = payload.calldata(&origin);
        assert_eq!(&calldata[..32], origin_topic(&origin).as_slice());
        assert_eq!(&calldata[32..], bytes.as_slice());

        let keys = NoteVerifiers::new(vec![key.verifier_key()]).expect("keys");
        assert!(payload.signed_by(&origin, &keys));
        let mut other_root = payload.clone();
        other_root.root = RootHash::from_bytes([0xac; 32]);
        assert!(!other_root.signed_by(&origin, &keys));
        let other_origin = Origin::parse("elsewhere.example/log").expect("origin");
        assert!(!payload.signed_by(&other_origin, &keys));
        let stranger = NoteSignerKey::from_seed(
            KeyName::parse("tagtrail.example/log").expect("name"),
            &[8; 32],
        );
        let strangers = NoteVerifiers::new(vec![stranger.verifier_key()]).expect("keys");
        assert!(!payload.signed_by(&origin, &strangers));
    }

    #[test]
    fn a_checkpoint_committing_to_the_index_has_a_version_2_payload() {
        let name = KeyName::parse("tagtrail.example/log").expect("name");
        let key = NoteSignerKey::from_seed(name, &[7; 32]);
        let origin = Origin::parse("tagtrail.example/log").expect("origin");
        let index = IndexCommitment {
            size: TreeSize::new(990).expect("size"),
            root: ledger::Hash::from_bytes([0xcd; 32]),
        };
        let checkpoint = Checkpoint::new(
            origin.clone(),
            TreeSize::new(1000).expect("size"),
            RootHash::from_bytes([0xab; 32]),
        )
        .with_extensions(vec![index.to_line()])
        .expect("one line");
        let message = checkpoint.sign(&[&key]).expect("sign").to_message();
        let (_, payload) = Payload::of_checkpoint(&message).expect("payload");
        assert_eq!(payload.index, Some(index));
        let bytes = payload.encode();
        assert_eq!(bytes.len(), PAYLOAD_INDEXED_LEN);
        assert_eq!(bytes[0], 2);
        assert_eq!(&bytes[41..49], &990u64.to_be_bytes());
        assert_eq!(&bytes[49..81], &[0xcd; 32]);
        assert_eq!(Payload::decode(&bytes), Ok(payload.clone()));
        assert_eq!(payload.checkpoint_text(&origin), checkpoint.to_text());
        let keys = NoteVerifiers::new(vec![key.verifier_key()]).expect("keys");
        assert!(payload.signed_by(&origin, &keys));
        let mut other_index = payload.clone();
        other_index.index = Some(IndexCommitment {
            size: index.size,
            root: ledger::Hash::from_bytes([0xce; 32]),
        });
        assert!(
            !other_index.signed_by(&origin, &keys),
            "the signature covers the index line"
        );
        let mut beyond = bytes;
        beyond[41..49].copy_from_slice(&1001u64.to_be_bytes());
        assert_eq!(
            Payload::decode(&beyond),
            Err(FormatError::IndexBeyondTree {
                index: 1001,
                tree: 1000
            })
        );
        for lines in [
            vec!["another extension".to_owned()],
            vec![index.to_line(), index.to_line()],
        ] {
            let other = Checkpoint::new(
                origin.clone(),
                TreeSize::new(1000).expect("size"),
                RootHash::from_bytes([0xab; 32]),
            )
            .with_extensions(lines)
            .expect("lines");
            let message = other.sign(&[&key]).expect("sign").to_message();
            assert!(matches!(
                Payload::of_checkpoint(&message),
                Err(FormatError::Extensions(_))
            ));
        }
    }

    #[test]
    fn malformed_payloads_are_refused_with_the_reason() {
        let (message, _) = signed_checkpoint(5);
        let bytes = Payload::of_checkpoint(&message)
            .expect("payload")
            .1
            .encode();
        assert_eq!(Payload::decode(&[]), Err(FormatError::Empty));
        let mut future = bytes.clone();
        future[0] = 3;
        assert_eq!(
            Payload::decode(&future),
            Err(FormatError::UnknownVersion(3))
        );
        let mut indexed_but_short = bytes.clone();
        indexed_but_short[0] = 2;
        assert_eq!(
            Payload::decode(&indexed_but_short),
            Err(FormatError::WrongLength(PAYLOAD_LEN))
        );
        assert_eq!(
            Payload::decode(&bytes[..100]),
            Err(FormatError::WrongLength(100))
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Payload::decode(&longer), Err(FormatError::WrongLength(110)));
        let mut huge = bytes;
        huge[1..9].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(
            Payload::decode(&huge),
            Err(FormatError::BadSize(_))
        ));
        assert!(matches!(
            Payload::of_checkpoint("not a checkpoint"),
            Err(FormatError::Checkpoint(_))
        ));
    }

    #[test]
    fn the_contract_address_follows_create() {
        // A public fact: the first contract created by anvil's first development account.
        let sender: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse()
            .expect("address");
        assert_eq!(
            create_address(&sender, 0).to_string(),
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        );
    }

    proptest::proptest! {
        /// What anyone can emit on chain never panics the decoder, and what decodes re-encodes
        /// to itself (the same property the `anchor_formats` fuzz target checks).
        #[test]
        fn any_event_data_decodes_or_is_refused(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..160)) {
            if let Ok(payload) = Payload::decode(&data) {
                proptest::prop_assert_eq!(payload.encode(), data);
            }
        }

        #[test]
        fn any_well_formed_payload_round_trips(
            size in 0u64..ledger::MAX_TREE_SIZE,
            root in proptest::prelude::any::<[u8; 32]>(),
            key_id in proptest::prelude::any::<u32>(),
            signature in proptest::collection::vec(proptest::prelude::any::<u8>(), 64),
        ) {
            let payload = Payload {
                size: TreeSize::new(size).expect("in range"),
                root: RootHash::from_bytes(root),
                index: (size % 3 != 0).then(|| IndexCommitment {
                    size: TreeSize::new(size / 2).expect("in range"),
                    root: ledger::Hash::from_bytes([key_id as u8; 32]),
                }),
                key_id: KeyId::from_u32(key_id),
                signature: signature.try_into().expect("64 bytes"),
            };
            proptest::prop_assert_eq!(Payload::decode(&payload.encode()), Ok(payload));
        }
    }
}
