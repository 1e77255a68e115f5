//! Proofs as served: an entry's single-event proof bundle (`ledger::bundle::ProofBundle`, version
//! 2), with its device attestation rebuilt from the stored batch and the device's registered key,
//! and its inclusion proof to the view's checkpoint.

use std::collections::HashMap;
use std::sync::Arc;

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

/// Device batches with their trees built, shared by every request: a stored batch never
/// changes, and building the tree of a batch of 1,000 events costs 2,000 SHA-256. Bounded
/// ([`ledger_store::Generations`]: approximately least recently used).
pub type BatchTrees = ledger_store::Generations<StatementHash, Arc<Built>>;

/// A stored batch, its tree, and the registered key its signature verified under, once found
/// (keys are never removed from the registry, so that key stays the answer; none is kept while
/// no key verifies it).
#[derive(Debug)]
pub struct Built {
    stored: ledger_store::StoredBatch,
    tree: EventBatch,
    key: std::sync::OnceLock<DevicePublicKey>,
}

/// Device attestations rebuilt for one answer: the batches (from [`BatchTrees`] or read together)
/// and each device's keys, read once.
pub struct Attestations<'a> {
    trees: &'a BatchTrees,
    /// The registry's connections (devices' keys).
    registry: &'a deadpool_postgres::Pool,
    keys: HashMap<String, Vec<Option<DevicePublicKey>>>,
    batches: HashMap<StatementHash, Arc<Built>>,
}

impl std::fmt::Debug for Attestations<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attestations")
            .field("devices", &self.keys.len())
            .field("batches", &self.batches.len())
            .finish()
    }
}

impl<'a> Attestations<'a> {
    /// Attestations drawing on the shared batch trees, reading devices' keys from the registry
    /// through `registry`.
    pub fn new(trees: &'a BatchTrees, registry: &'a deadpool_postgres::Pool) -> Self {
        Self {
            trees,
            registry,
            keys: HashMap::new(),
            batches: HashMap::new(),
        }
    }

    /// Reads the batches and device keys of `entries` that are not at hand yet: one query for all
    /// the batches, one per device.
    pub async fn prepare(
        &mut self,
        view: &View,
        entries: &[&StoredEntry],
    ) -> Result<(), ProofsError> {
        let mut missing = Vec::new();
        let mut devices: Vec<&str> = Vec::new();
        for entry in entries {
            let Attestation::Device {
                device, statement, ..
            } = entry.record.attestation()
            else {
                continue;
            };
            if !self.batches.contains_key(statement) && !missing.contains(statement) {
                match self.trees.get(statement) {
                    Some(built) => {
                        self.batches.insert(*statement, built);
                    }
                    None => missing.push(*statement),
                }
            }
            // A batch whose verifying key is known needs no key read.
            let key_known = self
                .batches
                .get(statement)
                .is_some_and(|built| built.key.get().is_some());
            if !key_known
                && !self.keys.contains_key(device.as_str())
                && !devices.contains(&device.as_str())
            {
                devices.push(device.as_str());
            }
        }
        if !missing.is_empty() {
            for (hash, stored) in view.store.device_batches(&missing).await? {
                let Ok(tree) = EventBatch::new(&stored.event_hashes) else {
                    continue;
                };
                let built = Arc::new(Built {
                    stored,
                    tree,
                    key: std::sync::OnceLock::new(),
                });
                self.trees.insert(hash, built.clone());
                self.batches.insert(hash, built);
            }
        }
        self.read_keys(&devices).await
    }

    /// Reads the registered keys of `devices` (one query each, on one connection, the query kept
    /// prepared).
    async fn read_keys(&mut self, devices: &[&str]) -> Result<(), ProofsError> {
        if devices.is_empty() {
            return Ok(());
        }
        let client = self.registry.get().await.map_err(ReadError::from)?;
        let query = client
            .prepare_cached(registry::keys::KEYS_OF_DEVICE)
            .await
            .map_err(ReadError::from)?;
        for &device in devices {
            let keys = registry::keys::keys_of_device(&**client, &query, device).await?;
            self.keys.insert(device.to_owned(), keys);
        }
        Ok(())
    }

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
        self.prepare(view, &[entry]).await?;
        // Shared, not borrowed: reading the device's keys below needs `self`.
        let built = self
            .batches
            .get(statement)
            .cloned()
            .ok_or(ProofsError::MissingBatch { leaf })?;
        let path = built
            .tree
            .path(*index)
            .ok_or(ProofsError::BadBatch { leaf })?;
        let stored = &built.stored;
        let public_key = match built.key.get() {
            Some(key) => key.clone(),
            None => {
                if !self.keys.contains_key(device.as_str()) {
                    // Not read by `prepare`, which skips the devices of batches whose key it knew.
                    self.read_keys(&[device.as_str()]).await?;
                }
                let keys = self
                    .keys
                    .get(device.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let usable: Vec<&DevicePublicKey> = keys.iter().flatten().collect();
                let verifying = usable
                    .iter()
                    .find(|key| stored.statement.verify(key, &stored.signature).is_ok())
                    .map(|key| (*key).clone());
                match verifying {
                    Some(key) => {
                        let _ = built.key.set(key.clone());
                        key
                    }
                    // No key verifies it (the registry lost it): the newest key is given, and
                    // the bundle's signature check fails, as it should.
                    None => match usable.first() {
                        Some(key) => (*key).clone(),
                        // A device with no usable key: nothing can verify its signature.
                        None => return Ok(None),
                    },
                }
            }
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

/// The single-event proof bundle of an entry of the view's tree, with the view's anchored
/// checkpoint (the newest within its tree), if any.
pub async fn event_bundle(
    view: &View,
    entry: &StoredEntry,
    attestations: &mut Attestations<'_>,
) -> Result<ProofBundle, ProofsError> {
    Ok(ProofBundle {
        version: BundleVersion::V2,
        event: entry.event.to_string(),
        document_context: None,
        event_hash: *entry.record.event_hash(),
        leaf_record: entry.record.encode(),
        device_attestation: attestations.of(view, entry).await?,
        inclusion: inclusion(view, entry).await?,
        checkpoint: view.checkpoint.note.clone(),
        anchored: view.anchored.as_deref().cloned(),
    })
}
