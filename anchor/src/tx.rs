//! Anchor transactions: EIP-1559 (type 2) transactions, encoded with RLP and signed with the chain's
//! secp256k1 key.
//!
//! The key is read from a file or the environment as 32 bytes of hex, held by k256's `SigningKey`
//! (zeroed on drop), and never printed: a [`Signer`]'s `Debug` shows its address only.

use std::fmt;
use std::path::Path;

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::{Encodable, Header};
use k256::ecdsa::SigningKey;
use zeroize::Zeroizing;

/// The EIP-2718 type byte of an EIP-1559 transaction.
const EIP1559_TYPE: u8 = 0x02;

/// Why a signing key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("failed to read the key file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "a chain key is 32 bytes written as 64 hex digits (optionally 0x-prefixed), found {0} characters"
    )]
    Length(usize),
    #[error("a chain key is written in hex digits only")]
    NotHex,
    #[error("these 32 bytes are not a valid secp256k1 private key (zero or above the group order)")]
    OutOfRange,
}

/// A chain signing key and its address.
pub struct Signer {
    key: SigningKey,
    address: Address,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Reads a key written as 64 hex digits (surrounding whitespace and a `0x` prefix allowed).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let digits = text.strip_prefix("0x").unwrap_or(text);
        if digits.len() != 64 {
            return Err(KeyError::Length(digits.len()));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        alloy_primitives::hex::decode_to_slice(digits, bytes.as_mut_slice())
            .map_err(|_| KeyError::NotHex)?;
        Self::from_bytes(&bytes)
    }

    /// Reads a key file holding [`Signer::from_hex`] text.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        Self::from_hex(&text)
    }

    /// A key from its 32 secret bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = SigningKey::from_slice(bytes).map_err(|_| KeyError::OutOfRange)?;
        let point = key.verifying_key().to_encoded_point(false);
        let hash = keccak256(&point.as_bytes()[1..]);
        let address = Address::from_slice(&hash[12..]);
        Ok(Self { key, address })
    }

    /// A new random key (for `anchor keygen` and tests).
    pub fn generate() -> Self {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            if getrandom::fill(bytes.as_mut_slice()).is_err() {
                continue;
            }
            if let Ok(signer) = Self::from_bytes(&bytes) {
                return signer;
            }
        }
    }

    /// The key as 64 hex digits, for writing a new key file.
    pub fn to_hex(&self) -> Zeroizing<String> {
        let bytes = Zeroizing::new(self.key.to_bytes());
        Zeroizing::new(alloy_primitives::hex::encode(&bytes[..]))
    }

    /// The key's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a transaction: the raw bytes to send and the transaction's hash.
    pub fn sign(&self, transaction: &Eip1559) -> Result<SignedTransaction, SignError> {
        let digest = transaction.signing_hash();
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|_| SignError)?;
        let (r, s) = signature.split_bytes();
        let raw = transaction.encode_signed(
            recovery.is_y_odd(),
            U256::from_be_slice(&r),
            U256::from_be_slice(&s),
        );
        Ok(SignedTransaction {
            hash: keccak256(&raw),
            raw,
        })
    }
}

/// Signing failed (which k256 reports only for a digest that cannot be signed).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the transaction could not be signed")]
pub struct SignError;

/// An EIP-1559 transaction. `to: None` creates a contract from `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip1559 {
    pub chain_id: u64,
    pub nonce: u64,
    pub max_priority_fee_per_gas: u128,
    pub max_fee_per_gas: u128,
    pub gas_limit: u64,
    pub to: Option<Address>,
    pub data: Vec<u8>,
}

/// A signed transaction: what `eth_sendRawTransaction` takes, and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    pub hash: B256,
    pub raw: Vec<u8>,
}

impl Eip1559 {
    /// The fields before the signature, RLP-encoded one after another (not yet a list).
    fn fields(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + self.data.len());
        self.chain_id.encode(&mut out);
        self.nonce.encode(&mut out);
        self.max_priority_fee_per_gas.encode(&mut out);
        self.max_fee_per_gas.encode(&mut out);
        self.gas_limit.encode(&mut out);
        match &self.to {
            Some(address) => address.encode(&mut out),
            None => out.push(alloy_rlp::EMPTY_STRING_CODE),
        }
        0u8.encode(&mut out); // value: anchors never send ether
        self.data.as_slice().encode(&mut out);
        out.push(alloy_rlp::EMPTY_LIST_CODE); // access list
        out
    }

    /// The hash the sender signs: `keccak256(0x02 || rlp([chain_id, ..., access_list]))`.
    pub fn signing_hash(&self) -> B256 {
        keccak256(typed_list(&self.fields()))
    }

    /// `0x02 || rlp([chain_id, ..., access_list, y_parity, r, s])`.
    fn encode_signed(&self, y_odd: bool, r: U256, s: U256) -> Vec<u8> {
        let mut fields = self.fields();
        y_odd.encode(&mut fields);
        r.encode(&mut fields);
        s.encode(&mut fields);
        typed_list(&fields)
    }
}

fn typed_list(fields: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.len() + 10);
    out.push(EIP1559_TYPE);
    Header {
        list: true,
        payload_length: fields.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(fields);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_rlp::Decodable;

    /// The first of the keys every local development chain (anvil, hardhat) funds, a public value.
    const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn a_key_gives_its_address() {
        let signer = Signer::from_hex(DEV_KEY).expect("key");
        assert_eq!(
            signer.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert!(!format!("{signer:?}").contains(&DEV_KEY[..16]));
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason() {
        assert!(matches!(Signer::from_hex("12"), Err(KeyError::Length(2))));
        assert!(matches!(
            Signer::from_hex(&"zz".repeat(32)),
            Err(KeyError::NotHex)
        ));
        assert!(matches!(
            Signer::from_hex(&"00".repeat(32)),
            Err(KeyError::OutOfRange)
        ));
        assert!(matches!(
            Signer::from_hex(&"ff".repeat(32)),
            Err(KeyError::OutOfRange)
        ));
    }

    #[test]
    fn a_signed_transaction_recovers_to_its_sender() {
        let signer = Signer::generate();
        let transaction = Eip1559 {
            chain_id: 31337,
            nonce: 7,
            max_priority_fee_per_gas: 1_000_000_000,
            max_fee_per_gas: 3_000_000_000,
            gas_limit: 40_000,
            to: Some(Address::repeat_byte(0x11)),
            data: vec![1, 2, 3],
        };
        let signed = signer.sign(&transaction).expect("sign");
        assert_eq!(signed.raw[0], EIP1559_TYPE);
        assert_eq!(signed.hash, keccak256(&signed.raw));
        // Decode the tail: the last three items are y_parity, r, s; recover the sender.
        let mut body = &signed.raw[1..];
        let header = Header::decode(&mut body).expect("list");
        assert!(header.list);
        let fields = transaction.fields();
        assert_eq!(&body[..fields.len()], fields.as_slice());
        let mut tail = &body[fields.len()..];
        let y_odd = bool::decode(&mut tail).expect("y");
        let r = U256::decode(&mut tail).expect("r");
        let s = U256::decode(&mut tail).expect("s");
        assert!(tail.is_empty());
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&r.to_be_bytes::<32>());
        bytes[32..].copy_from_slice(&s.to_be_bytes::<32>());
        let signature = k256::ecdsa::Signature::from_slice(&bytes).expect("signature");
        let recovery = k256::ecdsa::RecoveryId::new(y_odd, false);
        let key = k256::ecdsa::VerifyingKey::recover_from_prehash(
            transaction.signing_hash().as_slice(),
            &signature,
            recovery,
        )
        .expect("recover");
        assert_eq!(&key, signer.key.verifying_key());
    }
}
