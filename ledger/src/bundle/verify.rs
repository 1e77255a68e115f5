//! Offline verification of a proof bundle: every check is run and reported, a failed check is data.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use epcis::EventHash;
use epcis::hash::HashContext;

use crate::batch::{BatchStatement, DevicePublicKey};
use crate::checkpoint::{TrustedLog, VerifiedCheckpoint};
use crate::hash::leaf_hash;
use crate::history::Parties;
use crate::ids::DeviceId;
use crate::record::{Attestation, EventBinding, LeafRecord};

use super::format::{DeviceAttestation, ProofBundle};

/// The keys an offline verifier trusts: the log's checkpoint keys and, optionally, the registered
/// device keys.
#[derive(Clone, Debug)]
pub struct TrustedKeys {
    log: TrustedLog,
    devices: Option<DeviceRegistry>,
    parties: Option<Parties>,
    exporters: Option<crate::note::NoteVerifiers>,
}

impl TrustedKeys {
    /// Trusts the log's checkpoint keys; device keys are not checked against a registry.
    pub fn new(log: TrustedLog) -> Self {
        Self {
            log,
            devices: None,
            parties: None,
            exporters: None,
        }
    }

    /// Also checks the signed manifests of exports against these export keys (the verifier keys
    /// of the services that write them).
    pub fn with_exporters(mut self, exporters: crate::note::NoteVerifiers) -> Self {
        self.exporters = Some(exporters);
        self
    }

    /// The trusted export keys, when some were given.
    pub fn exporters(&self) -> Option<&crate::note::NoteVerifiers> {
        self.exporters.as_ref()
    }

    /// Also checks that the device key in a bundle is registered for the reporting device.
    pub fn with_devices(mut self, devices: DeviceRegistry) -> Self {
        self.devices = Some(devices);
        self
    }

    /// Also judges who had authority for each event of a provenance bundle with this registry
    /// of the parties (organisations, their company prefixes and delegates, their sites and
    /// devices).
    pub fn with_parties(mut self, parties: Parties) -> Self {
        self.parties = Some(parties);
        self
    }

    /// The trusted log.
    pub fn log(&self) -> &TrustedLog {
        &self.log
    }

    /// The registry of the parties, when one was given.
    pub fn parties(&self) -> Option<&Parties> {
        self.parties.as_ref()
    }
}

/// The public keys registered for each device (several during a key rotation).
#[derive(Clone, Debug, Default)]
pub struct DeviceRegistry {
    keys: BTreeMap<DeviceId, Vec<DevicePublicKey>>,
}

impl DeviceRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a key for a device.
    pub fn add(&mut self, device: DeviceId, key: DevicePublicKey) {
        let keys = self.keys.entry(device).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }

    /// Adds every key of another registry.
    pub fn extend(&mut self, other: &Self) {
        for (device, keys) in &other.keys {
            for key in keys {
                self.add(device.clone(), key.clone());
            }
        }
    }

    /// Whether `key` is registered for `device`.
    pub fn is_registered(&self, device: &DeviceId, key: &DevicePublicKey) -> bool {
        self.keys.get(device).is_some_and(|keys| keys.contains(key))
    }
}

/// What a check establishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckName {
    /// The event hash recomputed from the event equals the bundle's event hash.
    EventHash,
    /// The leaf record decodes and binds the event hash.
    LeafRecord,
    /// The leaf record (version 2) commits to the digest of the event's exact bytes.
    EventBytes,
    /// The batch statement decodes, is the one the record names, and is by the record's device.
    BatchStatement,
    /// The device's signature over the batch statement verifies.
    DeviceSignature,
    /// The device key is registered for the device.
    DeviceKeyRegistered,
    /// The event's batch path leads to the signed batch root at the record's index.
    BatchInclusion,
    /// The checkpoint is signed by a trusted log key and is for the trusted log.
    Checkpoint,
    /// The leaf record is in the checkpoint's tree at the claimed index.
    Inclusion,
    /// The anchored checkpoint is signed by a trusted log key.
    AnchoredCheckpoint,
    /// The bundle's checkpoint and the anchored checkpoint are consistent.
    Consistency,
    /// The anchored checkpoint's tree contains the event.
    AnchorCoversEvent,
    /// The anchor transactions hold the anchored checkpoint (checked by verifiers with chain access).
    AnchorOnChain,
    /// No anchor of the log's origin on chain, signed by a trusted key, contradicts a checkpoint
    /// of the bundle (another root at the same tree size: a split view). Checked by verifiers
    /// with chain access.
    ChainAgrees,
    /// A provenance bundle lists at least one event and no entry (leaf index) twice.
    EventList,
    /// Every inclusion proof of a provenance bundle is for the tree size of its one checkpoint.
    OneCheckpoint,
    /// A provenance bundle's item, its events, their order and every reason are the history its
    /// events give for that item.
    Story,
    /// No event of the item's history was left out of a provenance bundle.
    Complete,
    /// Each event's reporter and authority in a provenance bundle are the ones a registry of the
    /// parties gives.
    Authority,
    /// An export's query reads, and which of its events match it.
    Query,
    /// An export's trace is the one its events give, judged with the registry of the parties,
    /// as a graph and as a flat list.
    Trace,
    /// An export's FSMA 204 spreadsheet is the one its matching events give.
    Spreadsheet,
    /// An export's manifest is signed by a trusted export key and states what the export holds.
    Manifest,
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::EventHash => "event hash",
            Self::LeafRecord => "leaf record",
            Self::EventBytes => "event bytes",
            Self::BatchStatement => "batch statement",
            Self::DeviceSignature => "device signature",
            Self::DeviceKeyRegistered => "device key registered",
            Self::BatchInclusion => "batch inclusion",
            Self::Checkpoint => "checkpoint",
            Self::Inclusion => "inclusion",
            Self::AnchoredCheckpoint => "anchored checkpoint",
            Self::Consistency => "consistency",
            Self::AnchorCoversEvent => "anchor covers event",
            Self::AnchorOnChain => "anchor on chain",
            Self::ChainAgrees => "chain agrees",
            Self::EventList => "event list",
            Self::OneCheckpoint => "one checkpoint",
            Self::Story => "story",
            Self::Complete => "complete",
            Self::Authority => "authority",
            Self::Query => "query",
            Self::Spreadsheet => "spreadsheet",
            Self::Manifest => "manifest",
            Self::Trace => "trace",
        };
        f.write_str(name)
    }
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// The check ran and held.
    Passed,
    /// The check ran and did not hold; the reason says why.
    Failed(String),
    /// The check could not be made; the reason says why.
    Skipped(String),
}

/// One check and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: CheckName,
    /// How it went.
    pub outcome: Outcome,
}

/// The overall result of a verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check ran and passed.
    Valid,
    /// No check failed, but some could not be made (see their reasons).
    Incomplete,
    /// At least one check failed.
    Invalid,
}

/// Every check made on a bundle, in order, with its outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    checks: Vec<Check>,
}

impl Report {
    /// The checks in the order they were made.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The outcome of a check, if it was made.
    pub fn outcome(&self, name: CheckName) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.outcome)
    }

    /// Adds a check (verifiers with more means, such as chain access, add their own).
    pub fn push(&mut self, name: CheckName, outcome: Outcome) {
        self.checks.push(Check { name, outcome });
    }

    /// Invalid if any check failed, incomplete if any was skipped, valid otherwise.
    pub fn verdict(&self) -> Verdict {
        if self
            .checks
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Failed(_)))
        {
            Verdict::Invalid
        } else if self
            .checks
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Skipped(_)))
        {
            Verdict::Incomplete
        } else {
            Verdict::Valid
        }
    }

    fn passed(&mut self, name: CheckName) {
        self.push(name, Outcome::Passed);
    }

    fn failed(&mut self, name: CheckName, reason: impl Into<String>) {
        self.push(name, Outcome::Failed(reason.into()));
    }

    fn skipped(&mut self, name: CheckName, reason: impl Into<String>) {
        self.push(name, Outcome::Skipped(reason.into()));
    }
}

/// The CBV 2.0 event hash of an event, under the `@context` and `ignoreFields` of its capture
/// document (the standard EPCIS 2.0 context when `document_context` is `None`).
pub fn recompute_event_hash(
    event: &Map<String, Value>,
    document_context: Option<&Map<String, Value>>,
) -> Result<EventHash, epcis::hash::HashError> {
    let context = match document_context {
        Some(root) => HashContext::from_document_root(root)?,
        None => HashContext::new(),
    };
    epcis::hash::event_hash(event, &context)
}

/// Checks a proof bundle offline against trusted keys. Never fails: every check, passed, failed or
/// skipped, is in the report, and [`Report::verdict`] sums them up.
pub fn verify_bundle(bundle: &ProofBundle, trusted: &TrustedKeys) -> Report {
    let mut report = Report::default();

    let hashed = bundle
        .event_object()
        .map_err(|error| format!("the event is not a JSON object: {error}"))
        .and_then(|event| {
            recompute_event_hash(&event, bundle.document_context.as_ref())
                .map_err(|error| format!("the event cannot be hashed: {error}"))
        });
    match hashed {
        Ok(hash) if hash == bundle.event_hash => report.passed(CheckName::EventHash),
        Ok(hash) => report.failed(
            CheckName::EventHash,
            format!(
                "the event hashes to {hash}, the bundle claims {}",
                bundle.event_hash
            ),
        ),
        Err(reason) => report.failed(CheckName::EventHash, reason),
    }

    let record = match LeafRecord::decode(&bundle.leaf_record) {
        Ok(record) if *record.event_hash() == bundle.event_hash => {
            report.passed(CheckName::LeafRecord);
            Some(record)
        }
        Ok(record) => {
            report.failed(
                CheckName::LeafRecord,
                format!(
                    "the leaf record binds event hash {}, not the bundle's",
                    record.event_hash()
                ),
            );
            Some(record)
        }
        Err(error) => {
            report.failed(
                CheckName::LeafRecord,
                format!("the leaf record does not decode: {error}"),
            );
            None
        }
    };

    check_event_bytes(&mut report, bundle, record.as_ref());
    check_attestation(&mut report, bundle, record.as_ref(), trusted);

    let checkpoint = match trusted.log.open_checkpoint(&bundle.checkpoint) {
        Ok(verified) => {
            report.passed(CheckName::Checkpoint);
            Some(verified)
        }
        Err(error) => {
            report.failed(
                CheckName::Checkpoint,
                format!("the checkpoint does not verify: {error}"),
            );
            None
        }
    };

    check_inclusion(&mut report, bundle, checkpoint.as_ref());
    check_anchor(&mut report, bundle, checkpoint.as_ref(), trusted);
    report
}

fn check_event_bytes(report: &mut Report, bundle: &ProofBundle, record: Option<&LeafRecord>) {
    let Some(record) = record else {
        report.skipped(
            CheckName::EventBytes,
            "the leaf record does not decode, so it commits to no event bytes",
        );
        return;
    };
    match record.binds_event(bundle.event.as_bytes()) {
        EventBinding::Exact => report.passed(CheckName::EventBytes),
        EventBinding::Differs { committed, found } => report.failed(
            CheckName::EventBytes,
            format!(
                "the event's bytes have SHA-256 {found}; the leaf record commits to {committed}: \
                 the event was changed after it was logged"
            ),
        ),
        EventBinding::HashOnly => report.skipped(
            CheckName::EventBytes,
            "a version 1 leaf record commits to the CBV 2.0 hash only: fields the hash leaves out \
             (eventID, errorDeclaration, the zone of a time, the JSON's spelling) are not covered",
        ),
    }
}

fn check_attestation(
    report: &mut Report,
    bundle: &ProofBundle,
    record: Option<&LeafRecord>,
    trusted: &TrustedKeys,
) {
    const DEVICE_CHECKS: [CheckName; 4] = [
        CheckName::BatchStatement,
        CheckName::DeviceSignature,
        CheckName::DeviceKeyRegistered,
        CheckName::BatchInclusion,
    ];
    let Some(record) = record else {
        for name in DEVICE_CHECKS {
            report.skipped(
                name,
                "the leaf record does not decode, so it names no device batch",
            );
        }
        return;
    };
    match (record.attestation(), &bundle.device_attestation) {
        (Attestation::Unattested { site }, None) => {
            for name in DEVICE_CHECKS {
                report.skipped(
                    name,
                    format!("unattested: accepted with the API token of site {site}; no device signed it"),
                );
            }
        }
        (Attestation::Unattested { .. }, Some(_)) => {
            report.failed(
                CheckName::BatchStatement,
                "the leaf record is unattested but the bundle carries a device attestation",
            );
            for name in &DEVICE_CHECKS[1..] {
                report.skipped(*name, "the leaf record names no device batch");
            }
        }
        (Attestation::Device { .. }, None) => {
            report.failed(
                CheckName::BatchStatement,
                "the leaf record names a device batch but the bundle carries no device attestation",
            );
            for name in &DEVICE_CHECKS[1..] {
                report.skipped(*name, "the bundle carries no device attestation");
            }
        }
        (
            Attestation::Device {
                device,
                statement,
                index,
            },
            Some(attestation),
        ) => {
            let decoded = match BatchStatement::decode(&attestation.statement) {
                Ok(decoded) if decoded.hash() != *statement => {
                    report.failed(
                        CheckName::BatchStatement,
                        "the batch statement is not the one the leaf record names (hash differs)",
                    );
                    None
                }
                Ok(decoded) if decoded.device() != device => {
                    report.failed(
                        CheckName::BatchStatement,
                        format!(
                            "the batch statement is by device {}, the leaf record names {device}",
                            decoded.device()
                        ),
                    );
                    None
                }
                Ok(decoded) => {
                    report.passed(CheckName::BatchStatement);
                    Some(decoded)
                }
                Err(error) => {
                    report.failed(
                        CheckName::BatchStatement,
                        format!("the batch statement does not decode: {error}"),
                    );
                    None
                }
            };
            match decoded {
                Some(decoded) => {
                    check_device(report, bundle, &decoded, attestation, *index, trusted);
                }
                None => {
                    for name in &DEVICE_CHECKS[1..] {
                        report.skipped(*name, "no valid batch statement to check against");
                    }
                }
            }
        }
    }
}

fn check_device(
    report: &mut Report,
    bundle: &ProofBundle,
    statement: &BatchStatement,
    attestation: &DeviceAttestation,
    index: u32,
    trusted: &TrustedKeys,
) {
    match statement.verify(&attestation.public_key, &attestation.signature) {
        Ok(()) => report.passed(CheckName::DeviceSignature),
        Err(error) => report.failed(CheckName::DeviceSignature, error.to_string()),
    }
    match &trusted.devices {
        Some(registry) if registry.is_registered(statement.device(), &attestation.public_key) => {
            report.passed(CheckName::DeviceKeyRegistered);
        }
        Some(_) => report.failed(
            CheckName::DeviceKeyRegistered,
            format!(
                "the key is not registered for device {}",
                statement.device()
            ),
        ),
        None => report.skipped(
            CheckName::DeviceKeyRegistered,
            "no device key registry was given",
        ),
    }
    let path = &attestation.batch_path;
    if path.index() != index {
        report.failed(
            CheckName::BatchInclusion,
            format!(
                "the batch path is for index {}, the leaf record says {index}",
                path.index()
            ),
        );
        return;
    }
    match path.verify(&bundle.event_hash, statement) {
        Ok(()) => report.passed(CheckName::BatchInclusion),
        Err(error) => report.failed(CheckName::BatchInclusion, error.to_string()),
    }
}

fn check_inclusion(
    report: &mut Report,
    bundle: &ProofBundle,
    checkpoint: Option<&VerifiedCheckpoint>,
) {
    let Some(checkpoint) = checkpoint.map(VerifiedCheckpoint::checkpoint) else {
        report.skipped(
            CheckName::Inclusion,
            "no verified checkpoint to check against",
        );
        return;
    };
    if bundle.inclusion.tree_size() != checkpoint.size() {
        report.failed(
            CheckName::Inclusion,
            format!(
                "the proof is for a tree of {} leaves, the checkpoint has {}",
                bundle.inclusion.tree_size(),
                checkpoint.size()
            ),
        );
        return;
    }
    match bundle
        .inclusion
        .verify(&leaf_hash(&bundle.leaf_record), checkpoint.root())
    {
        Ok(()) => report.passed(CheckName::Inclusion),
        Err(error) => report.failed(CheckName::Inclusion, error.to_string()),
    }
}

fn check_anchor(
    report: &mut Report,
    bundle: &ProofBundle,
    checkpoint: Option<&VerifiedCheckpoint>,
    trusted: &TrustedKeys,
) {
    let Some(anchored) = &bundle.anchored else {
        for name in [
            CheckName::AnchoredCheckpoint,
            CheckName::Consistency,
            CheckName::AnchorCoversEvent,
        ] {
            report.skipped(name, "the bundle carries no anchored checkpoint");
        }
        return;
    };
    let anchored_checkpoint = match trusted.log.open_checkpoint(&anchored.checkpoint) {
        Ok(verified) => {
            report.passed(CheckName::AnchoredCheckpoint);
            Some(verified)
        }
        Err(error) => {
            report.failed(
                CheckName::AnchoredCheckpoint,
                format!("the anchored checkpoint does not verify: {error}"),
            );
            None
        }
    };
    let (Some(ours), Some(theirs)) = (
        checkpoint.map(VerifiedCheckpoint::checkpoint),
        anchored_checkpoint
            .as_ref()
            .map(VerifiedCheckpoint::checkpoint),
    ) else {
        report.skipped(CheckName::Consistency, "both checkpoints must verify first");
        report.skipped(
            CheckName::AnchorCoversEvent,
            "both checkpoints must verify first",
        );
        return;
    };
    let (old, new) = if ours.size() <= theirs.size() {
        (ours, theirs)
    } else {
        (theirs, ours)
    };
    let proof = &anchored.consistency;
    if (proof.old_size(), proof.new_size()) != (old.size(), new.size()) {
        report.failed(
            CheckName::Consistency,
            format!(
                "the proof is from {} to {} leaves, the checkpoints have {} and {}",
                proof.old_size(),
                proof.new_size(),
                old.size(),
                new.size()
            ),
        );
    } else {
        match proof.verify(old.root(), new.root()) {
            Ok(()) => report.passed(CheckName::Consistency),
            Err(error) => report.failed(CheckName::Consistency, error.to_string()),
        }
    }
    if theirs.size().contains(bundle.inclusion.leaf_index()) {
        report.passed(CheckName::AnchorCoversEvent);
    } else {
        report.skipped(
            CheckName::AnchorCoversEvent,
            format!(
                "not yet anchored: the anchored tree has {} leaves, the event is leaf {}",
                theirs.size(),
                bundle.inclusion.leaf_index()
            ),
        );
    }
}
