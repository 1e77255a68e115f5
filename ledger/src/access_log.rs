//! The access log: who looked at what through trace-api's credentialed routes (the EPCIS query
//! interface, traces, exports). It is a second log of the ledger's kind: an RFC 6962 tree whose
//! leaves are [`AccessEntry`]s (a leaf hash is `SHA-256(0x00 || entry bytes)`), C2SP signed
//! checkpoints of its own origin, and hash tiles anyone may fetch to check that each checkpoint
//! extends the one before. Entries themselves are private: a grantee lists its own, each with its
//! inclusion proof to a signed checkpoint ([`Listing`], checked by [`Listing::verify`]).
//!
//! An entry is written before the answer it records leaves the service, and the answer names its
//! leaf index: the operator cannot answer a grantee without the entry existing, and cannot later
//! drop or rewrite it without the access log's checkpoints contradicting each other. Each entry
//! carries a random nonce, so that its public leaf hash says nothing of what was asked.
//!
//! # Entry, version 1
//!
//! The JSON object of [`AccessEntry`], its members in this order, without whitespace, as
//! `serde_json` writes it:
//! `{"accessLog":1,"at":"<RFC 3339 UTC, whole seconds>","token":"<16 hex digits>","role":
//! "regulator"|"partner","sites":[...],"method":"GET"|"POST"|"PUSH","target":"<path?query as asked>",
//! "bodySha256":"<64 hex digits>","answered":<events answered>,"asOf":<ledger checkpoint size>,
//! "nonce":"<32 hex digits>"}` (`sites` only for a partner, `bodySha256` only for a request with
//! a body). The bytes logged are the bytes listed: a verifier hashes the listed text, never a
//! re-serialisation.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, TrustedLog};
use crate::hash::{Hash, leaf_hash};
use crate::size::{LeafIndex, TreeSize};
use crate::tree::InclusionProof;

/// The version of the entry format this module writes and reads.
pub const ENTRY_VERSION: u32 = 1;

/// The most bytes of one entry (the database refuses more).
pub const MAX_ENTRY_BYTES: usize = 65_536;

/// The most entries one listing holds.
pub const MAX_LISTED: usize = 100;

/// One access: who asked, what, when, and how much the answer held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccessEntry {
    /// The entry format's version ([`ENTRY_VERSION`]).
    pub access_log: u32,
    /// When the answer was made, RFC 3339 in UTC to the second.
    pub at: String,
    /// The public id of the access token that asked.
    pub token: String,
    /// The token's role.
    pub role: String,
    /// A partner's sites (empty for a regulator).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
    /// The request's method.
    pub method: String,
    /// The request's path and query string, as asked.
    pub target: String,
    /// The SHA-256 of the request's body, hex (a request with a body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// How many events the answer held (a trace: how many it read).
    pub answered: u64,
    /// The size of the ledger checkpoint the answer was as of.
    pub as_of: u64,
    /// 16 random bytes, hex: the entry's leaf hash reveals nothing of what was asked.
    pub nonce: String,
}

impl AccessEntry {
    /// The entry's bytes as logged.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an entry from its logged text, refusing anything that is not one (an unknown
    /// member, another version, a text that is not exactly the entry's own spelling).
    pub fn parse(text: &str) -> Result<Self, ListingError> {
        let entry: Self = serde_json::from_str(text)
            .map_err(|error| ListingError::NotAnEntry(error.to_string()))?;
        if entry.access_log != ENTRY_VERSION {
            return Err(ListingError::NotAnEntry(format!(
                "format version {} (this reads {ENTRY_VERSION})",
                entry.access_log
            )));
        }
        if entry.to_bytes() != text.as_bytes() {
            return Err(ListingError::NotAnEntry(
                "the text is not the entry's one spelling (members out of order or spaced)"
                    .to_owned(),
            ));
        }
        Ok(entry)
    }

    /// The entry's leaf hash in the access log's tree.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.to_bytes())
    }
}

/// A grantee's entries, each with its inclusion proof to one signed checkpoint of the access
/// log: what `GET /access-log/entries` answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Listing {
    /// The access log's signed checkpoint every proof leads to (a C2SP signed note).
    pub checkpoint: String,
    /// The token whose entries these are.
    pub token: String,
    /// The entries, in leaf order.
    pub entries: Vec<ListedEntry>,
    /// The leaf index to list on from, when the token has more entries the checkpoint covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_from: Option<u64>,
}

/// One entry of a [`Listing`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListedEntry {
    /// Its leaf index in the access log.
    pub leaf_index: u64,
    /// Its text, exactly as logged.
    pub entry: String,
    /// Its inclusion proof, base64 hashes from the leaf up.
    pub inclusion_proof: Vec<String>,
}

/// Why a listing does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListingError {
    /// The checkpoint is not one the trusted key signed for the trusted origin.
    #[error("the access log's checkpoint: {0}")]
    Checkpoint(String),
    /// An entry's text is not an entry.
    #[error("not an access-log entry: {0}")]
    NotAnEntry(String),
    /// An entry is another token's.
    #[error("entry {index} is token {found}'s, not {expected}'s")]
    OtherToken {
        /// The entry's leaf index.
        index: u64,
        /// The token it names.
        found: String,
        /// The token listed.
        expected: String,
    },
    /// An entry is not in the checkpoint's tree as its proof says.
    #[error("entry {index} is not in the access log's checkpoint: {why}")]
    NotIncluded {
        /// The entry's leaf index.
        index: u64,
        /// What failed.
        why: String,
    },
    /// Entries out of leaf order, or repeated.
    #[error("entries are not in increasing leaf order at {0}")]
    OutOfOrder(u64),
}

impl From<CheckpointError> for ListingError {
    fn from(error: CheckpointError) -> Self {
        Self::Checkpoint(error.to_string())
    }
}

impl Listing {
    /// Checks the listing against the access log a verifier trusts: the checkpoint is signed by
    /// its key for its origin, every entry is the listed token's, parses as an entry, and is in
    /// the checkpoint's tree at its leaf index. Returns the entries and the checkpoint's size.
    pub fn verify(&self, log: &TrustedLog) -> Result<(Vec<AccessEntry>, TreeSize), ListingError> {
        let verified = log.open_checkpoint(&self.checkpoint)?;
        let checkpoint = verified.checkpoint();
        let mut entries = Vec::with_capacity(self.entries.len());
        let mut last: Option<u64> = None;
        for listed in &self.entries {
            let index = listed.leaf_index;
            if last.is_some_and(|last| last >= index) {
                return Err(ListingError::OutOfOrder(index));
            }
            last = Some(index);
            let entry = AccessEntry::parse(&listed.entry)?;
            if entry.token != self.token {
                return Err(ListingError::OtherToken {
                    index,
                    found: entry.token,
                    expected: self.token.clone(),
                });
            }
            let not_included = |why: String| ListingError::NotIncluded { index, why };
            let hashes = listed
                .inclusion_proof
                .iter()
                .map(|hash| {
                    Hash::parse_base64(hash).map_err(|error| not_included(error.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let leaf = LeafIndex::new(index).map_err(|error| not_included(error.to_string()))?;
            InclusionProof::new(leaf, checkpoint.size(), hashes)
                .verify(&leaf_hash(listed.entry.as_bytes()), checkpoint.root())
                .map_err(|error| not_included(error.to_string()))?;
            entries.push(entry);
        }
        Ok((entries, checkpoint.size()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, Origin};
    use crate::note::{KeyName, NoteSignerKey, NoteVerifiers};
    use crate::tree::{MemoryTree, prove_inclusion};

    fn entry(token: &str, n: u64) -> AccessEntry {
        AccessEntry {
            access_log: ENTRY_VERSION,
            at: "2026-11-26T10:00:00Z".to_owned(),
            token: token.to_owned(),
            role: "regulator".to_owned(),
            sites: Vec::new(),
            method: "GET".to_owned(),
            target: format!("/events?MATCH_anyEPC=urn:epc:id:sgtin:0614141.812345.{n}"),
            body_sha256: None,
            answered: n,
            as_of: 40,
            nonce: format!("{n:032x}"),
        }
    }

    const MINE: &str = "00000000000000aa";
    const THEIRS: &str = "00000000000000bb";

    /// A log of five entries (the 2nd and 4th another token's), signed, and the listing of
    /// `MINE`'s, with the verifier's view of the log.
    fn listing() -> (Listing, TrustedLog) {
        let key = NoteSignerKey::from_seed(KeyName::parse("access.test/log").unwrap(), &[3; 32]);
        let entries: Vec<AccessEntry> = (0..5)
            .map(|n| entry(if n % 2 == 1 { THEIRS } else { MINE }, n))
            .collect();
        let tree =
            MemoryTree::from_leaf_hashes(entries.iter().map(AccessEntry::leaf_hash)).unwrap();
        let origin = Origin::parse("access.test/log").unwrap();
        let note = Checkpoint::new(origin.clone(), tree.size(), tree.root())
            .sign(&[&key])
            .unwrap()
            .to_message();
        let listed = entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.token == MINE)
            .map(|(index, entry)| {
                let leaf = LeafIndex::new(index as u64).unwrap();
                let proof = prove_inclusion(&tree, leaf, tree.size()).unwrap();
                ListedEntry {
                    leaf_index: index as u64,
                    entry: String::from_utf8(entry.to_bytes()).unwrap(),
                    inclusion_proof: proof.hashes().iter().map(Hash::to_base64).collect(),
                }
            })
            .collect();
        let log = TrustedLog::new(
            origin,
            NoteVerifiers::new(vec![key.verifier_key()]).unwrap(),
        );
        (
            Listing {
                checkpoint: note,
                token: MINE.to_owned(),
                entries: listed,
                next_from: None,
            },
            log,
        )
    }

    #[test]
    fn an_entry_has_one_spelling_and_reads_back() {
        let written = entry(MINE, 7);
        let text = String::from_utf8(written.to_bytes()).unwrap();
        assert!(text.starts_with(r#"{"accessLog":1,"at":"2026-11-26T10:00:00Z","token":"#));
        assert!(!text.contains("sites") && !text.contains("bodySha256"));
        assert_eq!(AccessEntry::parse(&text).unwrap(), written);
        let spaced = text.replace(",\"at\"", ", \"at\"");
        assert!(matches!(
            AccessEntry::parse(&spaced),
            Err(ListingError::NotAnEntry(why)) if why.contains("one spelling")
        ));
        let other_version = text.replace("\"accessLog\":1", "\"accessLog\":2");
        assert!(matches!(
            AccessEntry::parse(&other_version),
            Err(ListingError::NotAnEntry(why)) if why.contains("version 2")
        ));
        let unknown = text.replace("{\"accessLog\":1,", "{\"accessLog\":1,\"extra\":0,");
        assert!(matches!(
            AccessEntry::parse(&unknown),
            Err(ListingError::NotAnEntry(_))
        ));
    }

    #[test]
    fn a_listing_verifies_and_each_alteration_is_refused() {
        let (listing, log) = listing();
        let (entries, size) = listing.verify(&log).unwrap();
        assert_eq!(size.get(), 5);
        assert_eq!(
            entries.iter().map(|e| e.answered).collect::<Vec<_>>(),
            [0, 2, 4]
        );

        // An entry's text altered (what was asked).
        let mut altered = listing.clone();
        altered.entries[1].entry = altered.entries[1].entry.replace(".2\"", ".9\"");
        assert!(matches!(
            altered.verify(&log),
            Err(ListingError::NotIncluded { index: 2, .. })
        ));
        // An entry moved to another leaf index.
        let mut moved = listing.clone();
        moved.entries[1].leaf_index = 3;
        assert!(matches!(
            moved.verify(&log),
            Err(ListingError::NotIncluded { index: 3, .. })
        ));
        // Listed as another token's.
        let mut relabelled = listing.clone();
        relabelled.token = THEIRS.to_owned();
        assert!(matches!(
            relabelled.verify(&log),
            Err(ListingError::OtherToken { index: 0, .. })
        ));
        // Out of order, or repeated.
        let mut repeated = listing.clone();
        repeated.entries[1] = repeated.entries[0].clone();
        assert_eq!(repeated.verify(&log), Err(ListingError::OutOfOrder(0)));
        // A checkpoint of another key.
        let other = NoteSignerKey::from_seed(KeyName::parse("access.test/log").unwrap(), &[4; 32]);
        let stranger = TrustedLog::new(
            Origin::parse("access.test/log").unwrap(),
            NoteVerifiers::new(vec![other.verifier_key()]).unwrap(),
        );
        assert!(matches!(
            listing.verify(&stranger),
            Err(ListingError::Checkpoint(_))
        ));
        // A proof hash that is not one.
        let mut garbled = listing;
        garbled.entries[0].inclusion_proof[0] = "not base64".to_owned();
        assert!(matches!(
            garbled.verify(&log),
            Err(ListingError::NotIncluded { index: 0, .. })
        ));
    }
}
