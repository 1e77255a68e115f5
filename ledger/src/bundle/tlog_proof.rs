//! C2SP transparency log proofs (<https://c2sp.org/tlog-proof>): the text format of one entry's
//! offline-verifiable proof of inclusion, and its check against a trusted log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of opaque extra data>          (omitted when there is none)
//! index <decimal leaf index, no leading zeroes>
//! <base64 hash>                                (zero or more: the inclusion proof, from the leaf up)
//!
//! <the signed checkpoint, verbatim>
//! ```
//!
//! A tagtrail log's entries are leaf records, which a verifier cannot rebuild from an event alone
//! (they carry the capture time and the attestation), so tagtrail's proofs carry the leaf record
//! as the extra data: the specification names "additional data necessary to reconstruct the
//! record hash" as a use of it. The extra data is not trusted as such: the inclusion proof is
//! checked from its leaf hash, `SHA-256(0x00 || extra)`.

use epcis::EventHash;

use crate::checkpoint::TrustedLog;
use crate::encoding::{base64_decode, base64_encode};
use crate::hash::{Hash, leaf_hash};
use crate::record::LeafRecord;
use crate::size::LeafIndex;
use crate::tree::InclusionProof;

use super::verify::{CheckName, Outcome, Report};

/// The first line of a version 1 proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// What the first line of a proof of any version starts with.
const HEADER_PREFIX: &str = "c2sp.org/tlog-proof@";

/// The most hashes an inclusion proof has (in a tree of 2^63 leaves).
const MAX_PROOF_HASHES: usize = 63;

/// One entry's proof: the index of the entry, its inclusion proof in the tree of the checkpoint,
/// the signed checkpoint, and optional extra data (for tagtrail: the entry's leaf record).
///
/// One encoder ([`encode`](Self::encode)) and one decoder ([`decode`](Self::decode)); the tree
/// size is the checkpoint's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    index: LeafIndex,
    hashes: Vec<Hash>,
    checkpoint: String,
}

impl TlogProof {
    /// A proof without extra data; nothing is checked until [`verify_tlog_proof`].
    pub fn new(index: LeafIndex, hashes: Vec<Hash>, checkpoint: String) -> Self {
        Self {
            extra: None,
            index,
            hashes,
            checkpoint,
        }
    }

    /// The proof of a tagtrail entry: its leaf record as the extra data, the index and hashes of
    /// its inclusion proof, and the signed checkpoint of the proof's tree.
    pub fn of_leaf_record(
        leaf_record: Vec<u8>,
        inclusion: &InclusionProof,
        checkpoint: String,
    ) -> Self {
        Self::new(
            inclusion.leaf_index(),
            inclusion.hashes().to_vec(),
            checkpoint,
        )
        .with_extra(leaf_record)
    }

    /// Adds extra data. Empty data is the same as none (the format has no line for it).
    pub fn with_extra(mut self, extra: Vec<u8>) -> Self {
        self.extra = (!extra.is_empty()).then_some(extra);
        self
    }

    /// The extra data, if any: for tagtrail, the entry's leaf record. Not authenticated by itself.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// The index of the entry in the log.
    pub fn index(&self) -> LeafIndex {
        self.index
    }

    /// The inclusion proof's hashes, from the leaf's sibling up.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The signed checkpoint, verbatim.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The proof's text.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(
            TLOG_PROOF_HEADER.len() + 64 + 45 * self.hashes.len() + self.checkpoint.len(),
        );
        text.push_str(TLOG_PROOF_HEADER);
        text.push('\n');
        if let Some(extra) = &self.extra {
            text.push_str("extra ");
            text.push_str(&base64_encode(extra));
            text.push('\n');
        }
        text.push_str("index ");
        text.push_str(&self.index.to_string());
        text.push('\n');
        for hash in &self.hashes {
            text.push_str(&hash.to_base64());
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint);
        text
    }

    /// Parses a proof's text. Accepts only the canonical spelling: no empty extra line, an index
    /// without leading zeroes, canonical base64 of 32 bytes per hash line, at most 63 hashes, and a
    /// non-empty checkpoint after the blank line (kept verbatim; it is parsed and verified by
    /// [`verify_tlog_proof`]).
    pub fn decode(text: &str) -> Result<Self, TlogProofError> {
        let mut lines = Lines {
            rest: text,
            line: 0,
        };
        let header = lines.next().ok_or(TlogProofError::NotATlogProof)?;
        if header != TLOG_PROOF_HEADER {
            return Err(match header.strip_prefix(HEADER_PREFIX) {
                Some(version) => TlogProofError::UnknownVersion(version.to_owned()),
                None => TlogProofError::NotATlogProof,
            });
        }
        let mut line = lines.next().ok_or(TlogProofError::MissingIndex)?;
        let mut extra = None;
        if let Some(encoded) = line.strip_prefix("extra ") {
            let bytes = base64_decode(encoded).map_err(|_| TlogProofError::BadExtra)?;
            if bytes.is_empty() {
                return Err(TlogProofError::BadExtra);
            }
            extra = Some(bytes);
            line = lines.next().ok_or(TlogProofError::MissingIndex)?;
        }
        let index = line
            .strip_prefix("index ")
            .ok_or(TlogProofError::MissingIndex)?;
        let index = parse_index(index).ok_or(TlogProofError::BadIndex)?;
        let mut hashes = Vec::new();
        loop {
            let line = lines.next().ok_or(TlogProofError::MissingCheckpoint)?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes);
            }
            let hash = Hash::parse_base64(line)
                .map_err(|_| TlogProofError::BadHash { line: lines.line })?;
            hashes.push(hash);
        }
        if lines.rest.is_empty() {
            return Err(TlogProofError::MissingCheckpoint);
        }
        Ok(Self {
            extra,
            index,
            hashes,
            checkpoint: lines.rest.to_owned(),
        })
    }
}

/// The lines of a proof before its checkpoint, each ended by a newline; `line` counts from 1.
struct Lines<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let (line, rest) = self.rest.split_once('\n')?;
        self.rest = rest;
        self.line += 1;
        Some(line)
    }
}

fn parse_index(text: &str) -> Option<LeafIndex> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return None;
    }
    LeafIndex::new(text.parse().ok()?).ok()
}

/// Why text is not a tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    #[error("not a tlog-proof: the first line must be `{TLOG_PROOF_HEADER}`")]
    NotATlogProof,
    #[error("unknown tlog-proof version `{0}`: this software reads `{TLOG_PROOF_HEADER}`")]
    UnknownVersion(String),
    #[error("the extra line must be `extra ` followed by non-empty standard padded base64")]
    BadExtra,
    #[error("the line after the header (or the extra line) must be `index <decimal>`")]
    MissingIndex,
    #[error("the index must be a decimal number without leading zeroes, below 2^63")]
    BadIndex,
    #[error("line {line}: a proof hash is standard padded base64 of 32 bytes")]
    BadHash { line: usize },
    #[error("an inclusion proof has at most 63 hashes")]
    TooManyHashes,
    #[error("the proof hashes must be followed by a blank line and the signed checkpoint")]
    MissingCheckpoint,
}

/// Checks a tagtrail tlog-proof against a trusted log: its extra data is a leaf record (binding
/// `event`, when the caller knows which event it asked about), the checkpoint is signed by the
/// log, and the record is in the checkpoint's tree at the proof's index. Never fails: every check
/// is in the report ([`CheckName::LeafRecord`], [`CheckName::Checkpoint`],
/// [`CheckName::Inclusion`]). Without `event`, [`CheckName::EventHash`] is skipped: the proof then
/// shows that an entry is in the log, not which event it is.
pub fn verify_tlog_proof(proof: &TlogProof, log: &TrustedLog, event: Option<&EventHash>) -> Report {
    let mut report = Report::default();
    if event.is_none() {
        report.push(
            CheckName::EventHash,
            Outcome::Skipped(
                "no event was given: the proof shows that an entry is in the log, not which \
                 event it is"
                    .to_owned(),
            ),
        );
    }
    let record = proof.extra();
    match record.map(LeafRecord::decode) {
        None => report.push(
            CheckName::LeafRecord,
            Outcome::Failed(
                "the proof carries no leaf record (a tagtrail proof has it as its extra data)"
                    .to_owned(),
            ),
        ),
        Some(Err(error)) => report.push(
            CheckName::LeafRecord,
            Outcome::Failed(format!(
                "the extra data is not a leaf record: it does not decode: {error}"
            )),
        ),
        Some(Ok(decoded)) => match event {
            Some(expected) if decoded.event_hash() != expected => report.push(
                CheckName::LeafRecord,
                Outcome::Failed(format!(
                    "the leaf record binds event hash {}, not {expected}",
                    decoded.event_hash()
                )),
            ),
            _ => report.push(CheckName::LeafRecord, Outcome::Passed),
        },
    }

    let checkpoint = match log.open_checkpoint(&proof.checkpoint) {
        Ok(verified) => {
            report.push(CheckName::Checkpoint, Outcome::Passed);
            Some(verified)
        }
        Err(error) => {
            report.push(
                CheckName::Checkpoint,
                Outcome::Failed(format!("the checkpoint does not verify: {error}")),
            );
            None
        }
    };

    match (record, checkpoint) {
        (Some(record), Some(verified)) => {
            let checkpoint = verified.checkpoint();
            let inclusion =
                InclusionProof::new(proof.index, checkpoint.size(), proof.hashes.clone());
            match inclusion.verify(&leaf_hash(record), checkpoint.root()) {
                Ok(()) => report.push(CheckName::Inclusion, Outcome::Passed),
                Err(error) => report.push(CheckName::Inclusion, Outcome::Failed(error.to_string())),
            }
        }
        (None, _) => report.push(
            CheckName::Inclusion,
            Outcome::Skipped("no entry to check: the proof carries no extra data".to_owned()),
        ),
        (_, None) => report.push(
            CheckName::Inclusion,
            Outcome::Skipped("no verified checkpoint to check against".to_owned()),
        ),
    }
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    // The example of c2sp.org/tlog-proof (C2SP/C2SP at 0065ea5b716154a2dd48508e3f905012a16ce5e9);
    // its signatures are elided in the specification, so it parses but cannot verify.
    const SPEC_EXAMPLE: &str = "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

\u{2014} example.com/fancylog hI2DJw[...]1roloI=
\u{2014} witness1.example mJirIklj[...]qY9v2B/5bg==
\u{2014} witness2.example TnKKVHLX[...]xwYwrSjgow==
\u{2014} witness3.example S4X82uH5[...]3oEcROGLFQ==
";

    #[test]
    fn the_spec_example_decodes_and_encodes_back_byte_for_byte() {
        let proof = TlogProof::decode(SPEC_EXAMPLE).unwrap();
        assert_eq!(proof.index(), LeafIndex::new(73_894).unwrap());
        assert_eq!(proof.hashes().len(), 5);
        assert_eq!(
            proof.hashes()[0].to_base64(),
            "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ="
        );
        assert!(
            proof
                .extra()
                .unwrap()
                .starts_with(b"age-v1.2.1-darwin-arm64.tar.gz")
        );
        assert!(
            proof
                .checkpoint()
                .starts_with("example.com/fancylog\n109482\n")
        );
        assert!(proof.checkpoint().ends_with("3oEcROGLFQ==\n"));
        assert_eq!(proof.encode(), SPEC_EXAMPLE);
    }

    #[test]
    fn a_proof_without_extra_data_or_hashes_round_trips() {
        let proof = TlogProof::new(LeafIndex::from(0), Vec::new(), "log\n1\nx\n\n".to_owned());
        let text = proof.encode();
        assert_eq!(text, "c2sp.org/tlog-proof@v1\nindex 0\n\nlog\n1\nx\n\n");
        assert_eq!(TlogProof::decode(&text).unwrap(), proof);
        assert_eq!(proof.clone().with_extra(Vec::new()), proof);
    }

    #[test]
    fn other_spellings_are_refused_with_the_reason() {
        let hash = "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=";
        for (text, error) in [
            ("", TlogProofError::NotATlogProof),
            ("{\"version\": 2}\n", TlogProofError::NotATlogProof),
            (
                "c2sp.org/tlog-proof@v2\nindex 1\n\ncp\n",
                TlogProofError::UnknownVersion("v2".to_owned()),
            ),
            (
                "c2sp.org/tlog-proof@v1\nextra \nindex 1\n\ncp\n",
                TlogProofError::BadExtra,
            ),
            (
                "c2sp.org/tlog-proof@v1\nextra Zg\nindex 1\n\ncp\n",
                TlogProofError::BadExtra,
            ),
            (
                "c2sp.org/tlog-proof@v1\n\n\ncp\n",
                TlogProofError::MissingIndex,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n",
                TlogProofError::BadIndex,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex -1\n\ncp\n",
                TlogProofError::BadIndex,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 9223372036854775808\n\ncp\n",
                TlogProofError::BadIndex,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp\n",
                TlogProofError::BadHash { line: 3 },
            ),
            (
                &format!("c2sp.org/tlog-proof@v1\nindex 1\n{hash}\r\n\ncp\n"),
                TlogProofError::BadHash { line: 3 },
            ),
            (
                &format!("c2sp.org/tlog-proof@v1\nindex 1\n{hash}\n"),
                TlogProofError::MissingCheckpoint,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\n\n",
                TlogProofError::MissingCheckpoint,
            ),
            (
                &format!(
                    "c2sp.org/tlog-proof@v1\nindex 1\n{}\ncp\n",
                    format!("{hash}\n").repeat(64)
                ),
                TlogProofError::TooManyHashes,
            ),
        ] {
            assert_eq!(TlogProof::decode(text), Err(error), "{text:?}");
        }
    }
}
