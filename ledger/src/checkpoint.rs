//! Checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed statement of a log's size and root.
//!
//! The note text is exactly `<origin>\n<tree size>\n<base64 root hash>\n` followed by optional
//! non-empty extension lines; it is signed as a C2SP signed note (see [`crate::note`]).

use std::fmt;

use crate::hash::RootHash;
use crate::note::{KeyId, KeyName, Note, NoteError, NoteSignerKey, NoteVerifiers};
use crate::size::TreeSize;

/// The identity of a log: the first line of its checkpoints, conventionally a schema-less URL such
/// as `tagtrail.example/log`. Non-empty, no control characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    /// Checks the syntax of an origin line.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if text.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if let Some(found) = text.chars().find(|c| c.is_control()) {
            return Err(CheckpointError::ControlCharacter(found));
        }
        Ok(Self(text.to_owned()))
    }

    /// The origin as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin({:?})", self.0)
    }
}

/// A log's tree head: origin, tree size and root hash, with any extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: Origin,
    size: TreeSize,
    root: RootHash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint of a tree, without extension lines.
    pub fn new(origin: Origin, size: TreeSize, root: RootHash) -> Self {
        Self {
            origin,
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Adds extension lines (each non-empty, without control characters). The specification
    /// recommends against them: monitors cannot audit them.
    pub fn with_extensions(mut self, lines: Vec<String>) -> Result<Self, CheckpointError> {
        for line in &lines {
            check_extension(line)?;
        }
        self.extensions = lines;
        Ok(self)
    }

    /// The log's identity.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The number of leaves.
    pub fn size(&self) -> TreeSize {
        self.size
    }

    /// The root hash of the tree of [`size`](Self::size) leaves.
    pub fn root(&self) -> &RootHash {
        &self.root
    }

    /// The extension lines, if any.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n` then one line per extension.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint's note text (already separated from its signatures).
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::TextWithoutFinalNewline)?;
        let mut lines = body.split('\n');
        let origin = Origin::parse(lines.next().unwrap_or_default())?;
        let size = lines
            .next()
            .ok_or(CheckpointError::MissingLine("tree size"))?;
        let size = parse_size(size)?;
        let root = lines
            .next()
            .ok_or(CheckpointError::MissingLine("root hash"))?;
        let root = RootHash::parse_base64(root).map_err(|_| CheckpointError::BadRootHash)?;
        let extensions = lines.map(str::to_owned).collect::<Vec<_>>();
        for line in &extensions {
            check_extension(line)?;
        }
        Ok(Self {
            origin,
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint with each key; [`Note::to_message`] gives the text to publish.
    pub fn sign(&self, signers: &[&NoteSignerKey]) -> Result<Note, NoteError> {
        Note::sign(&self.to_text(), signers)
    }
}

fn parse_size(text: &str) -> Result<TreeSize, CheckpointError> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(CheckpointError::BadTreeSize);
    }
    let value: u64 = text.parse().map_err(|_| CheckpointError::BadTreeSize)?;
    TreeSize::new(value).map_err(|_| CheckpointError::BadTreeSize)
}

fn check_extension(line: &str) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(CheckpointError::EmptyExtensionLine);
    }
    if let Some(found) = line.chars().find(|c| c.is_control()) {
        return Err(CheckpointError::ControlCharacter(found));
    }
    Ok(())
}

/// A log a verifier trusts: its origin and the keys that may sign its checkpoints (several during a
/// key rotation).
#[derive(Clone, Debug)]
pub struct TrustedLog {
    origin: Origin,
    keys: NoteVerifiers,
}

impl TrustedLog {
    /// Trusts checkpoints of `origin` signed by any of `keys`.
    pub fn new(origin: Origin, keys: NoteVerifiers) -> Self {
        Self { origin, keys }
    }

    /// The log's origin.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The log's checkpoint keys.
    pub fn keys(&self) -> &NoteVerifiers {
        &self.keys
    }

    /// Parses and verifies a signed checkpoint of this log: a trusted key's signature verifies, no
    /// trusted key's signature fails, and the origin is this log's.
    pub fn open_checkpoint(&self, message: &str) -> Result<VerifiedCheckpoint, CheckpointError> {
        let note = Note::parse(message)?;
        let signed_by = self
            .keys
            .verify(&note)?
            .into_iter()
            .map(|key| (key.name().clone(), key.id()))
            .collect();
        let checkpoint = Checkpoint::from_text(note.text())?;
        if checkpoint.origin != self.origin {
            return Err(CheckpointError::WrongOrigin {
                expected: self.origin.clone(),
                found: checkpoint.origin,
            });
        }
        Ok(VerifiedCheckpoint {
            checkpoint,
            signed_by,
        })
    }
}

/// A checkpoint whose signature by a trusted key has been verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    checkpoint: Checkpoint,
    signed_by: Vec<(KeyName, KeyId)>,
}

impl VerifiedCheckpoint {
    /// The verified checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The trusted keys whose signatures verified.
    pub fn signed_by(&self) -> &[(KeyName, KeyId)] {
        &self.signed_by
    }
}

/// Why text is not a checkpoint, or a signed checkpoint does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("a checkpoint text must end with a newline")]
    TextWithoutFinalNewline,
    #[error("the checkpoint has no {0} line")]
    MissingLine(&'static str),
    #[error("the origin line must not be empty")]
    EmptyOrigin,
    #[error("a checkpoint line must not contain control characters, found {0:?}")]
    ControlCharacter(char),
    #[error("the tree size line must be a decimal number without leading zeroes, at most 2^63")]
    BadTreeSize,
    #[error("the root hash line must be standard padded base64 of 32 bytes")]
    BadRootHash,
    #[error("extension lines must not be empty")]
    EmptyExtensionLine,
    #[error("the checkpoint is for log {found}, expected {expected}")]
    WrongOrigin { expected: Origin, found: Origin },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::NoteVerifierKey;

    // The example of c2sp.org/tlog-checkpoint.
    const SPEC_TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    // Signed tree heads published by the Go checksum database (sum.golang.org), verified with its
    // public key (the default GOSUMDB key built into the go command).
    const SUMDB_KEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
    const SUMDB_HEADS: [&str; 2] = [
        "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n\u{2014} sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=\n",
        "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n\u{2014} sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n",
    ];

    fn sumdb() -> TrustedLog {
        let key = NoteVerifierKey::parse(SUMDB_KEY).unwrap();
        TrustedLog::new(
            Origin::parse("go.sum database tree").unwrap(),
            NoteVerifiers::new(vec![key]).unwrap(),
        )
    }

    #[test]
    fn the_spec_example_parses_and_prints_back() {
        let checkpoint = Checkpoint::from_text(SPEC_TEXT).unwrap();
        assert_eq!(checkpoint.origin().as_str(), "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size(), TreeSize::new(20_852_163).unwrap());
        assert_eq!(
            checkpoint.root().to_base64(),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert_eq!(checkpoint.to_text(), SPEC_TEXT);
    }

    #[test]
    fn real_signed_tree_heads_of_the_go_checksum_database_verify() {
        for head in SUMDB_HEADS {
            let verified = sumdb().open_checkpoint(head).unwrap();
            assert_eq!(verified.signed_by()[0].1, KeyId::from_u32(0x033d_e0ae));
        }
        let verified = sumdb().open_checkpoint(SUMDB_HEADS[1]).unwrap();
        assert_eq!(
            verified.checkpoint().size(),
            TreeSize::new(65_209_736).unwrap()
        );
    }

    #[test]
    fn a_tree_head_with_a_changed_size_does_not_verify() {
        let forged = SUMDB_HEADS[1].replace("65209736", "65209737");
        assert!(matches!(
            sumdb().open_checkpoint(&forged),
            Err(CheckpointError::Note(NoteError::BadSignature { .. }))
        ));
    }

    #[test]
    fn a_checkpoint_of_another_origin_is_refused_even_if_signed() {
        let seed = [7u8; 32];
        let signer = NoteSignerKey::from_seed(KeyName::parse("log.example/a").unwrap(), &seed);
        let checkpoint = Checkpoint::new(
            Origin::parse("log.example/b").unwrap(),
            TreeSize::from(3),
            RootHash::empty(),
        );
        let message = checkpoint.sign(&[&signer]).unwrap().to_message();
        let log = TrustedLog::new(
            Origin::parse("log.example/a").unwrap(),
            NoteVerifiers::new(vec![signer.verifier_key()]).unwrap(),
        );
        assert!(matches!(
            log.open_checkpoint(&message),
            Err(CheckpointError::WrongOrigin { .. })
        ));
    }

    #[test]
    fn a_signed_checkpoint_round_trips_with_extensions() {
        let signer = NoteSignerKey::from_seed(KeyName::parse("log.example").unwrap(), &[1; 32]);
        let checkpoint = Checkpoint::new(
            Origin::parse("log.example").unwrap(),
            TreeSize::from(42),
            RootHash::from_bytes([5; 32]),
        )
        .with_extensions(vec!["anchor chain 1".to_owned()])
        .unwrap();
        let message = checkpoint.sign(&[&signer]).unwrap().to_message();
        assert!(message.starts_with("log.example\n42\nBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=\nanchor chain 1\n\n\u{2014} log.example "));
        let log = TrustedLog::new(
            checkpoint.origin().clone(),
            NoteVerifiers::new(vec![signer.verifier_key()]).unwrap(),
        );
        assert_eq!(
            log.open_checkpoint(&message).unwrap().checkpoint(),
            &checkpoint
        );
    }

    #[test]
    fn malformed_checkpoint_texts_are_refused() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for (text, error) in [
            (format!("\n5\n{root}\n"), CheckpointError::EmptyOrigin),
            (format!("log\n05\n{root}\n"), CheckpointError::BadTreeSize),
            (format!("log\n+5\n{root}\n"), CheckpointError::BadTreeSize),
            (
                format!("log\n9223372036854775809\n{root}\n"),
                CheckpointError::BadTreeSize,
            ),
            ("log\n5\nAAAA\n".to_owned(), CheckpointError::BadRootHash),
            (
                "log\n5\n".to_owned(),
                CheckpointError::MissingLine("root hash"),
            ),
            (
                format!("log\n5\n{root}\n\n"),
                CheckpointError::EmptyExtensionLine,
            ),
            (
                format!("log\n5\n{root}"),
                CheckpointError::TextWithoutFinalNewline,
            ),
        ] {
            assert_eq!(Checkpoint::from_text(&text), Err(error), "{text:?}");
        }
        assert_eq!(
            Checkpoint::from_text(&format!("log\n0\n{root}\n")).map(|c| c.size()),
            Ok(TreeSize::ZERO)
        );
    }
}
