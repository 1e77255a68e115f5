//! The provenance bundle, version 1: an item's whole custody history in one JSON file that anyone
//! can check offline, and its verifier.
//!
//! Each event carries what a [`ProofBundle`] carries for one event, except the checkpoint and the
//! anchor, which all events share. Verification builds each event's single-event bundle
//! ([`ProvenanceBundle::proof_bundle`]) and runs [`verify_bundle`] on it, so every event gets
//! exactly the checks a proof bundle gets; the bundle as a whole adds five of its own: the event
//! list, one checkpoint, the story (recomputed from the events, `story.rs`), the authority marks
//! and completeness (from the index proofs a version 2 bundle carries, `complete.rs`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use epcis::EventHash;

use crate::history::Authority;
use crate::ids::OrganisationId;
use crate::size::LeafIndex;
use crate::tree::InclusionProof;

use super::format::{
    AnchoredCheckpoint, BundleVersion, DeviceAttestation, ProofBundle, base64_bytes, base64_list,
    ni_uri,
};
use super::verify::{CheckName, Outcome, Report, TrustedKeys, Verdict, verify_bundle};

/// An item's custody history: every event that concerns it, each with its proof of inclusion in
/// the tree of one signed checkpoint, and optionally the anchor of that tree.
///
/// Serialized as one JSON object with camelCase keys (unknown keys refused); see the crate README
/// for every field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvenanceBundle {
    /// The format version: 1, or 2 for a bundle that may carry [`index`](Self::index) proofs
    /// and events outside the history.
    pub version: ProvenanceVersion,
    /// The identifier the history was asked for (an EPC URI, a GS1 Digital Link or the hex of a
    /// tag's EPC bank), as the asker wrote it. The story check recomputes the history of this
    /// item from the events.
    pub item: String,
    /// The signed checkpoint (a C2SP signed note, as published) whose tree every event's inclusion
    /// proof leads to.
    pub checkpoint: String,
    /// The events, in the order the writer chose; a verifier reports them in this order.
    pub events: Vec<ProvenanceEvent>,
    /// A checkpoint that was anchored, the consistency proof between it and
    /// [`checkpoint`](Self::checkpoint), and where it was anchored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchored: Option<AnchoredCheckpoint>,
    /// Events of the history the writer left out, by reporter: more events named the item, its
    /// containers and related items than a bundle carries, and these were their reporters'
    /// beyond an equal share (`ledger::history::share`). The writer's word: nothing in the
    /// bundle proves it, and the verifier's completeness check says so. Absent when nothing was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted: Vec<crate::history::Omitted>,
    /// What the verifiable index committed in [`checkpoint`](Self::checkpoint) says of every
    /// identifier the history follows (version 2): with it, the completeness check shows that
    /// the bundle carries every event naming them, up to the index's size. Absent when the
    /// checkpoint commits to no index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexEvidence>,
}

/// The verifiable index's evidence in a provenance bundle: the head the bundle's checkpoint
/// commits to (its `tagtrail-index` extension line) and a key proof of every entry of each
/// identifier the history follows (`ledger::index`, the encodings of the ledger README's
/// "Verifiable index, version 1").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexEvidence {
    /// The encoded index head (standard base64 in JSON).
    #[serde(with = "base64_bytes")]
    pub head: Vec<u8>,
    /// The encoded key proofs, one per key, in any order (standard base64 each).
    #[serde(with = "base64_list")]
    pub proofs: Vec<Vec<u8>>,
}

/// One event of a provenance bundle: the fields of a [`ProofBundle`] that differ from event to
/// event, and why the event belongs to the item's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvenanceEvent {
    /// The EPCIS 2.0 event's JSON text, byte for byte as the ledger stores and serves it.
    pub event: String,
    /// The `@context` and `ignoreFields` members of the capture document's root, which the event
    /// hash depends on. Absent: the standard EPCIS 2.0 context and no ignored fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_context: Option<Map<String, Value>>,
    /// The CBV 2.0 event hash, as `ni:///sha-256;<hex>?ver=CBV2.0`.
    #[serde(with = "ni_uri")]
    pub event_hash: EventHash,
    /// The leaf record's bytes (standard base64 in JSON).
    #[serde(with = "base64_bytes")]
    pub leaf_record: Vec<u8>,
    /// The device's attestation; absent for events accepted unattested with a site token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_attestation: Option<DeviceAttestation>,
    /// The inclusion proof of the leaf record in the tree of the bundle's checkpoint.
    pub inclusion: InclusionProof,
    /// Why the event is part of the item's history (one reason or more, in any order); none for a
    /// context event (listed after the history: a state change of a container or related item
    /// outside the history that the authority marks rest on). The story check recomputes them
    /// from the events.
    pub why: Vec<Why>,
    /// The organisation that reported the event (the one its leaf record's device or site
    /// belongs to), when the log's registry knows it. Absent in bundles written before custody
    /// authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_by: Option<OrganisationId>,
    /// Whether the reporter had authority for what the event does (`crate::history::authority`):
    /// `{"kind": "observation"}`, `{"kind": "authorised"}` or `{"kind": "unauthorised",
    /// "reason": "..."}`. The story check recomputes it with a registry of the parties, and
    /// puts the history together from the events that count either way. Absent in bundles
    /// written before custody authority: every event then counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<Authority>,
    /// The leaf index of the error declaration that withdrew the event
    /// ([`crate::history::withdrawals`]): one with authority, by the event's reporter or a party
    /// acting for it. A withdrawn event is listed and shapes nothing (no container window,
    /// transformation or custody rests on it). Absent when none did. The story check recomputes
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_by: Option<LeafIndex>,
}

/// Why an event belongs to an item's history. It is read off the events themselves, and the
/// story check recomputes it.
///
/// In JSON: `{"kind": "direct"}`, `{"kind": "container", "container": "<EPC>"}` or
/// `{"kind": "transformation", "via": "<EPC>", "transformation": "<transformationID>"}` (the last
/// member only when the event has a `transformationID`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", from = "WhyJson")]
pub enum Why {
    /// The event names the item itself (in an EPC or quantity list, as a parent or a child, as an
    /// input or an output).
    Direct,
    /// The event names a container the item was aggregated into at the time (its `parentID` in
    /// an AggregationEvent that added the item), not the item.
    Container {
        /// The container's identifier (an SSCC, for example).
        container: String,
    },
    /// The event concerns an item the asked-for item was transformed into or from.
    Transformation {
        /// The related item's identifier: the one the event names.
        via: String,
        /// The `transformationID` linking the two items, when the transformation has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transformation: Option<String>,
    },
}

/// How [`Why`] is read: the same, with `direct` as an empty struct so that unknown members are
/// refused for it too (serde ignores them for a unit variant of an internally tagged enum).
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum WhyJson {
    Direct {},
    Container {
        container: String,
    },
    Transformation {
        via: String,
        #[serde(default, deserialize_with = "present")]
        transformation: Option<String>,
    },
}

/// A member that is absent when it has no value: `null` is not another spelling of absent.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

impl From<WhyJson> for Why {
    fn from(json: WhyJson) -> Self {
        match json {
            WhyJson::Direct {} => Self::Direct,
            WhyJson::Container { container } => Self::Container { container },
            WhyJson::Transformation {
                via,
                transformation,
            } => Self::Transformation {
                via,
                transformation,
            },
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Direct => f.write_str("names the item"),
            Self::Container { container } => write!(f, "names its container {container}"),
            Self::Transformation {
                via,
                transformation: Some(transformation),
            } => write!(f, "names {via}, linked by transformation {transformation}"),
            Self::Transformation {
                via,
                transformation: None,
            } => write!(f, "names {via}, linked by a transformation"),
        }
    }
}

impl ProvenanceBundle {
    /// The single-event proof bundle of the event at `position` (sharing the bundle's checkpoint
    /// and anchor), or `None` past the last event. It is what the event's checks run on.
    pub fn proof_bundle(&self, position: usize) -> Option<ProofBundle> {
        let event = self.events.get(position)?;
        Some(ProofBundle {
            version: BundleVersion::V2,
            event: event.event.clone(),
            document_context: event.document_context.clone(),
            event_hash: event.event_hash,
            leaf_record: event.leaf_record.clone(),
            device_attestation: event.device_attestation.clone(),
            inclusion: event.inclusion.clone(),
            checkpoint: self.checkpoint.clone(),
            anchored: self.anchored.clone(),
        })
    }
}

/// The version of the provenance bundle format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProvenanceVersion {
    /// Version 1: the history and its context events.
    V1,
    /// Version 2: also the events gathered outside the history and the index proofs that show
    /// the bundle complete.
    V2,
}

impl Serialize for ProvenanceVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::V1 => serializer.serialize_u8(1),
            Self::V2 => serializer.serialize_u8(2),
        }
    }
}

impl<'de> Deserialize<'de> for ProvenanceVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u64::deserialize(deserializer)? {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            other => Err(serde::de::Error::custom(format!(
                "unknown provenance bundle version {other}: this software reads versions 1 and 2"
            ))),
        }
    }
}

/// The checks of one event of a provenance bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventReport {
    /// The event's position in the bundle's list, from 0.
    pub position: usize,
    /// The leaf index its inclusion proof claims.
    pub leaf_index: LeafIndex,
    /// The checks [`verify_bundle`] made on the event's single-event bundle.
    #[serde(flatten)]
    pub report: Report,
}

/// Every check made on a provenance bundle: those of the bundle as a whole, then each event's, in
/// the bundle's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProvenanceReport {
    #[serde(flatten)]
    bundle: Report,
    events: Vec<EventReport>,
    /// The index size up to which the history was proven complete, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    complete_through: Option<u64>,
}

impl ProvenanceReport {
    /// The checks of the bundle as a whole ([`CheckName::EventList`], [`CheckName::OneCheckpoint`],
    /// [`CheckName::Story`], [`CheckName::Authority`], [`CheckName::Complete`]).
    pub fn bundle_checks(&self) -> &Report {
        &self.bundle
    }

    /// Each event's checks, in the bundle's order.
    pub fn events(&self) -> &[EventReport] {
        &self.events
    }

    /// When [`CheckName::Complete`] passed: the number of entries `n` of the index it rests on.
    /// The bundle carries every event of the history among the log's first `n` entries (the
    /// index may trail the checkpoint's tree a little: the entries after it are not proven).
    pub fn complete_through(&self) -> Option<u64> {
        self.complete_through
    }

    /// Invalid if any check failed (of the bundle or of an event), incomplete if any was skipped,
    /// valid otherwise.
    pub fn verdict(&self) -> Verdict {
        combined_verdict(&self.bundle, &self.events)
    }
}

/// Invalid if any check of `whole` or of an event failed, incomplete if any was skipped, valid
/// otherwise.
pub(super) fn combined_verdict(whole: &Report, events: &[EventReport]) -> Verdict {
    let verdicts: Vec<Verdict> = std::iter::once(whole.verdict())
        .chain(events.iter().map(|event| event.report.verdict()))
        .collect();
    if verdicts.contains(&Verdict::Invalid) {
        Verdict::Invalid
    } else if verdicts.contains(&Verdict::Incomplete) {
        Verdict::Incomplete
    } else {
        Verdict::Valid
    }
}

/// Checks a provenance bundle offline against trusted keys. Never fails: every check is in the
/// report, and [`ProvenanceReport::verdict`] sums them up.
///
/// The bundle as a whole must list at least one event and no entry twice, every inclusion proof
/// must be for the tree size of the bundle's checkpoint, and its item, events, order and reasons
/// must be the history its events give ([`CheckName::Story`]); it is complete
/// ([`CheckName::Complete`]) when its index proofs list no entry of what the history follows
/// that it does not carry (skipped for a bundle without them). Each event gets every check of
/// [`verify_bundle`], run on its single-event bundle.
pub fn verify_provenance(bundle: &ProvenanceBundle, trusted: &TrustedKeys) -> ProvenanceReport {
    let mut checks = Report::default();
    check_event_list(&mut checks, bundle);
    check_one_checkpoint(&mut checks, &bundle.checkpoint, &bundle.events, trusted);
    let complete_through = super::story::check_story(&mut checks, bundle, trusted);
    let events = (0..bundle.events.len())
        .filter_map(|position| {
            let single = bundle.proof_bundle(position)?;
            Some(EventReport {
                position,
                leaf_index: single.inclusion.leaf_index(),
                report: verify_bundle(&single, trusted),
            })
        })
        .collect();
    ProvenanceReport {
        bundle: checks,
        events,
        complete_through,
    }
}

fn check_event_list(report: &mut Report, bundle: &ProvenanceBundle) {
    if bundle.events.is_empty() {
        report.push(
            CheckName::EventList,
            Outcome::Failed("the bundle lists no events".to_owned()),
        );
        return;
    }
    let mut seen: BTreeMap<LeafIndex, usize> = BTreeMap::new();
    for (position, event) in bundle.events.iter().enumerate() {
        let leaf = event.inclusion.leaf_index();
        if let Some(first) = seen.insert(leaf, position) {
            report.push(
                CheckName::EventList,
                Outcome::Failed(format!(
                    "events {first} and {position} are the same entry (leaf {leaf}): \
                     an event is listed twice"
                )),
            );
            return;
        }
    }
    report.push(CheckName::EventList, Outcome::Passed);
}

/// Every event's inclusion proof is for the tree size of `checkpoint`.
pub(super) fn check_one_checkpoint(
    report: &mut Report,
    checkpoint: &str,
    events: &[ProvenanceEvent],
    trusted: &TrustedKeys,
) {
    let size = match trusted.log().open_checkpoint(checkpoint) {
        Ok(verified) => verified.checkpoint().size(),
        Err(_) => {
            report.push(
                CheckName::OneCheckpoint,
                Outcome::Skipped(
                    "the checkpoint does not verify (see each event's checkpoint check)".to_owned(),
                ),
            );
            return;
        }
    };
    let other = events
        .iter()
        .enumerate()
        .find(|(_, event)| event.inclusion.tree_size() != size);
    match other {
        Some((position, event)) => report.push(
            CheckName::OneCheckpoint,
            Outcome::Failed(format!(
                "event {position} (leaf {}) has an inclusion proof for a tree of {} leaves, \
                 the bundle's checkpoint has {size}",
                event.inclusion.leaf_index(),
                event.inclusion.tree_size()
            )),
        ),
        None => report.push(CheckName::OneCheckpoint, Outcome::Passed),
    }
}
