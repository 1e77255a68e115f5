//! Proofs as served: an entry's single-event proof bundle (`ledger::bundle::ProofBundle`, version
//! 2), with its device attestation rebuilt from the stored batch and the device's registered key,
//! and its inclusion proof to the view's checkpoint.

use std::collections::HashMap;

use ledger::batch::{DevicePublicKey, EventBatch, StatementHash};
use ledger::bundle::{BundleVersion, DeviceAttestation, ProofBundle};
use ledger::record::Attestation;
use ledger::tree::InclusionProof;
use ledger_store::{ProofError, ReadError, StoredEntry};

use crate::reader::View;

/// Why a proof could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProofsError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("the registry could not be read")]
    Registry(#[from] registry::ReadError),
    #[error("entry {leaf}: the device batch its record names is not stored")]
    MissingBatch { leaf: u64 },
    #[error("entry {leaf}: its device batch does not hold its index")]
    BadBatch { leaf: u64 },
}

impl std::fmt::Debug for Attestations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attestations")
            .field("devices", &self.keys.len())
            .field("batches", &self.batches.len())
            .finish()
    }
}

/// Device attestations already rebuilt for one answer: a batch's events share its statement, and
/// each device's keys are read once.
#[derive(Default)]
pub struct Attestations {
    keys: HashMap<String, Vec<Option<DevicePublicKey>>>,
    batches: HashMap<StatementHash, Option<(ledger_store::StoredBatch, EventBatch)>>,
}

impl Attestations {
    /// The device attestation of an entry: `None` for an event accepted with a site token.
    /// The public key is the device's registered key that verifies the batch signature (the
    /// newest such, if several); when none does (the registry lost it), the newest key is given,
    /// and the bundle's signature check fails, as it should.
    pub async fn of(
        &mut self,
        view: &View,
        entry: &StoredEntry,
    ) -> Result<Option<DeviceAttestation>, ProofsError> {
        let Attestation::Device {
            device,
            statement,
            index,
        } = entry.record.attestation()
        else {
            return Ok(None);
        };
        let leaf = entry.leaf_index.get();
        if !self.batches.contains_key(statement) {
            let stored = view.store.device_batch(statement).await?;
            let built = match stored {
                Some(stored) => {
                    let tree = EventBatch::new(&stored.event_hashes)
                        .map_err(|_| ProofsError::BadBatch { leaf })?;
                    Some((stored, tree))
                }
                None => None,
            };
            self.batches.insert(*statement, built);
        }
        let Some(Some((stored, tree))) = self.batches.get(statement) else {
            return Err(ProofsError::MissingBatch { leaf });
        };
        let path = tree.path(*index).ok_or(ProofsError::BadBatch { leaf })?;
        if !self.keys.contains_key(device.as_str()) {
            let client = view.store.pool().get().await.map_err(ReadError::from)?;
            let keys = registry::keys::keys_of_device(&**client, device.as_str()).await?;
            self.keys.insert(device.as_str().to_owned(), keys);
        }
        let keys = self
            .keys
            .get(device.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let usable: Vec<&DevicePublicKey> = keys.iter().flatten().collect();
        let public_key = usable
            .iter()
            .find(|key| stored.statement.verify(key, &stored.signature).is_ok())
            .or(usable.first())
            .map(|key| (*key).clone());
        let Some(public_key) = public_key else {
            // A device with no usable key: nothing can verify its signature.
            return Ok(None);
        };
        Ok(Some(DeviceAttestation {
            statement: stored.statement.encode(),
            public_key,
            signature: stored.signature.clone(),
            batch_path: path,
        }))
    }
}

/// The inclusion proof of an entry in the view's tree.
pub async fn inclusion(view: &View, entry: &StoredEntry) -> Result<InclusionProof, ProofsError> {
    Ok(view
        .store
        .inclusion_proof(entry.leaf_index, view.size())
        .await?)
}

/// The single-event proof bundle of an entry of the view's tree (not yet anchored: the anchor
/// worker is not built yet, so `anchored` is absent).
pub async fn event_bundle(
    view: &View,
    entry: &StoredEntry,
    attestations: &mut Attestations,
) -> Result<ProofBundle, ProofsError> {
    Ok(ProofBundle {
        version: BundleVersion::V2,
        event: entry.event.clone(),
        document_context: None,
        event_hash: *entry.record.event_hash(),
        leaf_record: entry.record.encode(),
        device_attestation: attestations.of(view, entry).await?,
        inclusion: inclusion(view, entry).await?,
        checkpoint: view.checkpoint.note.clone(),
        anchored: None,
    })
}
