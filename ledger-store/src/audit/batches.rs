//! The batch-checking thread: each stored device batch checked on its own (its statement, hash,
//! event hashes and signature) before the checking thread meets its entries.

use epcis::EventHash;
use ledger::DeviceId;
use ledger::batch::{BatchStatement, DeviceKeyring, DeviceSignature, EventBatch, StatementHash};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::copy::CopyRow;

use super::problem::BatchReason;

/// A device batch row `(statement_hash, statement, signature_algorithm, signature, event_hashes,
/// first_leaf_index)` with the checks that need nothing but the row and the registry's keys done
/// (on the batch-checking thread): statement, hash, event hashes against the statement's root,
/// signature.
#[derive(Debug)]
pub(super) struct PreparedBatch {
    pub(super) row: CopyRow,
    pub(super) checked: Result<CheckedBatch, BatchReason>,
}

impl PreparedBatch {
    /// Checks `row` under `keys`.
    pub(super) fn new(row: CopyRow, keys: &DeviceKeyring) -> Self {
        Self {
            checked: check_batch(&row, keys),
            row,
        }
    }
}

/// The statement hash a device batch row is stored under. The column holds 32 bytes (a CHECK
/// constraint); were it not so, the row is named by the hash of its statement, the hash it should
/// have.
pub(super) fn stored_statement_hash(row: &CopyRow) -> StatementHash {
    let bytes =
        <[u8; 32]>::try_from(row.bytes(0)).unwrap_or_else(|_| Sha256::digest(row.bytes(1)).into());
    StatementHash::from_bytes(bytes)
}

#[derive(Debug)]
pub(super) struct CheckedBatch {
    pub(super) statement_hash: [u8; 32],
    pub(super) device: String,
    pub(super) size: u32,
    pub(super) signature: SignatureVerdict,
}

#[derive(Debug)]
pub(super) enum SignatureVerdict {
    /// Verified under a key the registry holds for the device.
    Verified,
    /// The registry holds no key for the device: not checked.
    Unregistered,
}

/// The batch-checking thread: checks each device batch row as it arrives, until the rows end or
/// the checking thread is gone.
pub(super) fn check_batches(
    mut input: mpsc::Receiver<Vec<CopyRow>>,
    keys: DeviceKeyring,
    out: mpsc::Sender<Vec<PreparedBatch>>,
) {
    while let Some(rows) = input.blocking_recv() {
        let prepared = rows
            .into_iter()
            .map(|row| PreparedBatch::new(row, &keys))
            .collect();
        if out.blocking_send(prepared).is_err() {
            return;
        }
    }
}

/// Checks a stored device batch on its own: its statement decodes and hashes to its key, its event
/// hashes are the batch the statement commits to, and its signature verifies under one of the keys
/// the registry holds for its device (any key the device has had), if it holds any.
fn check_batch(row: &CopyRow, keys: &DeviceKeyring) -> Result<CheckedBatch, BatchReason> {
    let stored_hash = row.bytes(0);
    let statement_bytes = row.bytes(1);
    let algorithm = String::from_utf8_lossy(row.bytes(2));
    let signature = row.bytes(3);
    let hashes = row.bytes(4);
    let statement =
        BatchStatement::decode(statement_bytes).map_err(BatchReason::MalformedStatement)?;
    let computed: [u8; 32] = Sha256::digest(statement_bytes).into();
    if computed.as_slice() != stored_hash || statement.hash().as_bytes() != &computed {
        return Err(BatchReason::StatementHashDiffers {
            computed: StatementHash::from_bytes(computed),
        });
    }
    let signature = match (&*algorithm, <[u8; 64]>::try_from(signature)) {
        ("ed25519", Ok(signature)) => DeviceSignature::Ed25519(signature),
        _ => {
            return Err(BatchReason::NotEd25519 {
                algorithm: algorithm.into_owned(),
                bytes: signature.len(),
            });
        }
    };
    let events: Vec<EventHash> = hashes
        .chunks_exact(32)
        .filter_map(|chunk| <[u8; 32]>::try_from(chunk).ok().map(EventHash::from_bytes))
        .collect();
    let root_matches = u32::try_from(events.len()).is_ok_and(|n| n == statement.size())
        && hashes.len().is_multiple_of(32)
        && EventBatch::new(&events).is_ok_and(|tree| tree.root() == *statement.root());
    if !root_matches {
        return Err(BatchReason::EventsNotCommitted);
    }
    let verdict = match keys.keys_of(statement.device().as_str()) {
        None => SignatureVerdict::Unregistered,
        Some(keys)
            if keys
                .iter()
                .flatten()
                .any(|key| statement.verify(key, &signature).is_ok()) =>
        {
            SignatureVerdict::Verified
        }
        Some(keys) => {
            return Err(BatchReason::SignatureFails {
                device: DeviceId::clone(statement.device()),
                keys: keys.len(),
                unparsable: keys.iter().filter(|key| key.is_none()).count(),
            });
        }
    };
    Ok(CheckedBatch {
        statement_hash: computed,
        device: statement.device().as_str().to_owned(),
        size: statement.size(),
        signature: verdict,
    })
}

/// Hashes a SHA-256 output (a statement hash, checked before it becomes a key) by its first 8
/// bytes, which are uniform already: the per-entry lookup of its batch needs no SipHash.
#[derive(Debug, Default)]
pub(super) struct PrefixHasher(u64);

impl std::hash::Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        match bytes.first_chunk::<8>() {
            Some(prefix) => self.0 ^= u64::from_le_bytes(*prefix),
            None => {
                for &byte in bytes {
                    self.0 = self.0.rotate_left(8) ^ u64::from(byte);
                }
            }
        }
    }
}
