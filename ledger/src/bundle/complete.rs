//! Completeness: that a provenance bundle carries every event of the history it tells
//! ([`CheckName::Complete`](super::CheckName::Complete)).
//!
//! The history is a function of the events naming the identifiers it follows: the item, the
//! containers it travelled in, the items a transformation related it to. A version 2 bundle
//! carries the head of the verifiable index its checkpoint commits to and, for each of those
//! identifiers, the key proof of every entry naming it (`ledger::index`). The verifier puts the
//! history together from the bundle's events, learns from it which identifiers it follows, and
//! requires for each a proof over every entry the index covers; then every entry a proof lists
//! must be in the bundle, and every event of the bundle naming one of them must be listed. An
//! event left out is named by its leaf index. Left-out events are induction-proof: whatever
//! relates the item to a container or another item names the item (or a container already
//! followed), so removing it removes an entry some proof lists.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::history::History;
use crate::index::{IndexCommitment, IndexHead, IndexKey, KeyProof, keys_of_json};
use crate::size::LeafIndex;

use super::provenance::{IndexEvidence, ProvenanceBundle};
use super::verify::{Outcome, TrustedKeys};

/// Why [`CheckName::Complete`](super::CheckName::Complete) is skipped for a bundle without index
/// proofs (version 1, or a checkpoint that commits to no index).
pub const COMPLETENESS_UNPROVEN: &str = "the bundle carries no index proofs, so nothing shows \
    that no event of its history was left out";

/// How the completeness check came out, and what the story check needs of it.
pub(super) struct Completeness {
    pub(super) outcome: Outcome,
    /// The index size the history is complete up to, when the check passed.
    pub(super) through: Option<u64>,
    /// The leaves the index proofs of the followed identifiers list: the bundle may carry them
    /// (with no reason) even when they are not part of the history, so that it can be complete.
    pub(super) listed: HashSet<LeafIndex>,
}

impl Completeness {
    fn skipped(reason: String) -> Self {
        Self {
            outcome: Outcome::Skipped(reason),
            through: None,
            listed: HashSet::new(),
        }
    }

    fn failed(reason: String) -> Self {
        Self {
            outcome: Outcome::Failed(reason),
            through: None,
            listed: HashSet::new(),
        }
    }
}

/// Why completeness is not proven for a bundle without index proofs: what its writer says it
/// left out, if anything, and that nothing proves the rest.
pub(super) fn unproven(bundle: &ProvenanceBundle) -> String {
    match declared(bundle) {
        None => COMPLETENESS_UNPROVEN.to_owned(),
        Some((total, by)) => format!(
            "the writer says it left out {total} events of this history ({by}): more named the \
             item than a bundle carries; and {COMPLETENESS_UNPROVEN}"
        ),
    }
}

/// What the writer says it left out: how many events, and by whom in words.
fn declared(bundle: &ProvenanceBundle) -> Option<(usize, String)> {
    if bundle.omitted.is_empty() {
        return None;
    }
    let total = bundle.omitted.iter().map(|omitted| omitted.events).sum();
    let by: Vec<String> = bundle
        .omitted
        .iter()
        .map(|omitted| match &omitted.reporter {
            Some(reporter) => format!("{} by {reporter}", omitted.events),
            None => format!("{} by reporters the writer did not know", omitted.events),
        })
        .collect();
    Some((total, by.join(", ")))
}

/// An identifier a history follows, by the key the index lists its events under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed<'a> {
    /// The name it was first asked about under.
    pub name: &'a str,
    /// The index key of the events naming it (under any of its names).
    pub key: IndexKey,
}

/// Checks that `bundle` carries every event the index lists under each identifier `history`
/// (put together from the bundle's own events) follows.
pub(super) fn check(
    bundle: &ProvenanceBundle,
    trusted: &TrustedKeys,
    history: &History<usize>,
) -> Completeness {
    let Ok(verified) = trusted.log().open_checkpoint(&bundle.checkpoint) else {
        return Completeness::skipped(
            "the checkpoint does not verify (see each event's checkpoint check)".to_owned(),
        );
    };
    let commitment = IndexCommitment::of_checkpoint(verified.checkpoint());
    let (evidence, commitment) = match (&bundle.index, commitment) {
        (_, Err(error)) => {
            return Completeness::failed(format!("the checkpoint's index line: {error}"));
        }
        (None, Ok(None)) => return Completeness::skipped(unproven(bundle)),
        // Whoever removes the proofs from a bundle cannot remove the line from the signed
        // checkpoint: a bundle of a checkpoint with an index must carry its proofs.
        (None, Ok(Some(commitment))) => {
            return Completeness::failed(format!(
                "the checkpoint commits to an index of {} entries, and the bundle carries none \
                 of its proofs: they were removed",
                commitment.size
            ));
        }
        (Some(_), Ok(None)) => {
            return Completeness::failed(
                "the bundle carries index proofs, but its checkpoint commits to no index"
                    .to_owned(),
            );
        }
        (Some(evidence), Ok(Some(commitment))) => (evidence, commitment),
    };
    let (size, proven) = match proven_keys(evidence, commitment) {
        Ok(proven) => proven,
        Err(failure) => return Completeness::failed(failure),
    };
    let followed = followed(history);
    let carried: HashMap<u64, usize> = bundle
        .events
        .iter()
        .enumerate()
        .map(|(position, event)| (event.inclusion.leaf_index().get(), position))
        .collect();
    let mut listed = HashSet::new();
    let mut missing: Vec<(u64, &str)> = Vec::new();
    let mut unproven: Vec<&str> = Vec::new();
    for subject in &followed {
        let Some(Some(leaves)) = proven.get(&subject.key) else {
            unproven.push(subject.name);
            continue;
        };
        for &leaf in leaves {
            match carried.contains_key(&leaf) {
                true => {
                    listed.extend(LeafIndex::new(leaf).ok());
                }
                false => missing.push((leaf, subject.name)),
            }
        }
    }
    // The other way round: an event of the bundle naming a followed identifier among the
    // entries the index covers must be listed under it, or the index lies about that key.
    if let Some(failure) = unlisted(bundle, &followed, &proven, size) {
        return Completeness::failed(failure);
    }
    missing.sort_unstable();
    missing.dedup_by_key(|(leaf, _)| *leaf);
    if let Some(&(leaf, name)) = missing.first() {
        let declared = declared(bundle);
        let said = declared.as_ref().map_or(0, |(total, _)| *total);
        let leaves: Vec<String> = missing.iter().map(|(leaf, _)| leaf.to_string()).collect();
        if missing.len() > said {
            return Completeness::failed(format!(
                "the index lists entry {leaf} under {name}, and the bundle does not carry it: an \
                 event of the history was left out ({} missing in all: leaves {})",
                missing.len(),
                leaves.join(", ")
            ));
        }
        let by = declared.map(|(_, by)| by).unwrap_or_default();
        return Completeness {
            outcome: Outcome::Skipped(format!(
                "the writer says it left out {said} events of this history ({by}), and the \
                 index lists {} entries the bundle does not carry: leaves {}",
                missing.len(),
                leaves.join(", ")
            )),
            through: None,
            listed,
        };
    }
    if !unproven.is_empty() {
        return Completeness {
            outcome: Outcome::Skipped(format!(
                "the bundle carries no index proof of every entry of {}: events naming {} are \
                 not proven complete",
                unproven.join(", "),
                if unproven.len() == 1 { "it" } else { "them" }
            )),
            through: None,
            listed,
        };
    }
    // The entries the index does not cover yet (appended after its last step) are proven
    // neither way: the most recent events of a history are the ones that matter most.
    let tree = verified.checkpoint().size().get();
    if size < tree {
        return Completeness {
            outcome: Outcome::Skipped(format!(
                "complete up to entry {size} only: the index does not cover the checkpoint's \
                 last {} entries, so nothing shows that none of them was left out",
                tree - size
            )),
            through: None,
            listed,
        };
    }
    Completeness {
        outcome: Outcome::Passed,
        through: Some(size),
        listed,
    }
}

/// For each key with a proof: the entries it lists, when it covers every entry of the index.
pub(super) type Proven = BTreeMap<IndexKey, Option<Vec<u64>>>;

/// What the index evidence proves against the head `commitment` names: the head's size, and for
/// each key with a proof the entries it lists when it covers every entry of the index (`None`
/// for a proof of part of a key). Fails on a head that is not the committed one, a proof that
/// does not decode or verify, and a second proof of one key.
pub(super) fn proven_keys(
    evidence: &IndexEvidence,
    commitment: IndexCommitment,
) -> Result<(u64, Proven), String> {
    let head =
        IndexHead::decode(&evidence.head).map_err(|error| format!("the index head: {error}"))?;
    if IndexCommitment::of_head(&head) != commitment {
        return Err(format!(
            "the index head covers {} entries with root {}; the checkpoint commits to {} \
             entries with root {}",
            head.size(),
            head.root().to_base64(),
            commitment.size,
            commitment.root.to_base64()
        ));
    }
    let size = head.size().get();
    let mut proven = Proven::new();
    for (number, bytes) in evidence.proofs.iter().enumerate() {
        let proof =
            KeyProof::decode(bytes).map_err(|error| format!("index proof {number}: {error}"))?;
        let leaves = proof
            .verify(&head)
            .map_err(|error| format!("index proof {number} (key {}): {error}", proof.range.key))?;
        let whole = proof.range.from == 0 && proof.range.to >= size;
        if proven
            .insert(proof.range.key, whole.then_some(leaves))
            .is_some()
        {
            return Err(format!(
                "index proof {number}: a second proof of key {}",
                proof.range.key
            ));
        }
    }
    Ok((size, proven))
}

/// The identifiers `history` follows, each by its index key once (an EPC URI and its Digital
/// Link are one key), in the order followed: the keys whose proofs a complete provenance bundle
/// carries.
pub fn followed<T>(history: &History<T>) -> Vec<Followed<'_>> {
    let mut seen = HashSet::new();
    let mut followed = Vec::new();
    for names in &history.followed {
        for name in names {
            let key = IndexKey::epc(name);
            if seen.insert(key) {
                followed.push(Followed { name, key });
            }
        }
    }
    followed
}

/// The first event of the bundle, among the index's entries, that names a followed identifier
/// its proof does not list.
fn unlisted(
    bundle: &ProvenanceBundle,
    followed: &[Followed<'_>],
    proven: &Proven,
    size: u64,
) -> Option<String> {
    for (position, event) in bundle.events.iter().enumerate() {
        let leaf = event.inclusion.leaf_index().get();
        if leaf >= size {
            continue;
        }
        // An event that is not JSON fails the story check already.
        let keys = keys_of_json(&event.event).unwrap_or_default();
        for subject in followed {
            let Some(Some(leaves)) = proven.get(&subject.key) else {
                continue;
            };
            if keys.binary_search(&subject.key).is_ok() && leaves.binary_search(&leaf).is_err() {
                return Some(format!(
                    "event {position} (leaf {leaf}) names {}, but the index proof of that key \
                     does not list it: the index leaves out an entry",
                    subject.name
                ));
            }
        }
    }
    None
}
