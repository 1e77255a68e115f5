//! Signed notes (<https://c2sp.org/signed-note>): text followed by a blank line and one or more
//! signature lines `— <key name> <base64(4-byte key id || signature)>`.

use crate::encoding::{base64_decode, base64_encode};

use super::key::{KeyId, KeyName, NoteSignerKey, NoteVerifierKey};

/// The most signatures a note may carry (the signed-note spec requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// What starts every signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// One signature line of a note, verified or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    name: KeyName,
    id: KeyId,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// The name of the key that claims to have signed.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The id of the key that claims to have signed.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The signature bytes after the key id.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    fn line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            base64_encode(&bytes)
        )
    }
}

/// A parsed note: its text and its signatures, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Signs `text` (which must end with a newline and contain no control character other than
    /// newline) with each signer, in order.
    pub fn sign(text: &str, signers: &[&NoteSignerKey]) -> Result<Self, NoteError> {
        check_text(text)?;
        if signers.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if signers.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let signatures = signers
            .iter()
            .map(|signer| NoteSignature {
                name: signer.name().clone(),
                id: signer.id(),
                signature: signer.sign(text.as_bytes()).to_vec(),
            })
            .collect();
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Parses a signed note. The text ends at the last blank line; every line after it must be a
    /// well-formed signature line.
    pub fn parse(message: &str) -> Result<Self, NoteError> {
        if let Some(found) = message.chars().find(|&c| c < ' ' && c != '\n') {
            return Err(NoteError::ControlCharacter(found));
        }
        let split = message.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
        let text = &message[..=split];
        let lines = &message[split + 2..];
        if lines.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let lines = lines
            .strip_suffix('\n')
            .ok_or(NoteError::MalformedSignatureLine)?;
        let mut signatures = Vec::new();
        for line in lines.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature_line(line)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signatures, in the order of their lines.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature by another key (a cosignature, or a new key during rotation).
    pub fn add_signature(&mut self, signer: &NoteSignerKey) -> Result<(), NoteError> {
        if self.signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(NoteSignature {
            name: signer.name().clone(),
            id: signer.id(),
            signature: signer.sign(self.text.as_bytes()).to_vec(),
        });
        Ok(())
    }

    /// The note as sent: text, blank line, signature lines.
    pub fn to_message(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 120 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.line());
        }
        out
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::TextWithoutFinalNewline);
    }
    if let Some(found) = text.chars().find(|&c| c < ' ' && c != '\n') {
        return Err(NoteError::ControlCharacter(found));
    }
    Ok(())
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteError::MalformedSignatureLine)?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or(NoteError::MalformedSignatureLine)?;
    let name = KeyName::parse(name).map_err(|_| NoteError::MalformedSignatureLine)?;
    let bytes = base64_decode(encoded).map_err(|_| NoteError::MalformedSignatureLine)?;
    if bytes.len() < 5 {
        return Err(NoteError::MalformedSignatureLine);
    }
    let (id, signature) = bytes.split_at(4);
    let id = KeyId::from_u32(u32::from_be_bytes([id[0], id[1], id[2], id[3]]));
    Ok(NoteSignature {
        name,
        id,
        signature: signature.to_vec(),
    })
}

/// The keys trusted to sign notes, looked up by name and id. Several keys may share a name (key
/// rotation); no two may share both name and id.
#[derive(Clone, Debug, Default)]
pub struct NoteVerifiers {
    keys: Vec<NoteVerifierKey>,
}

impl NoteVerifiers {
    /// A set of trusted keys; refuses two keys with the same name and id.
    pub fn new(keys: Vec<NoteVerifierKey>) -> Result<Self, AmbiguousKey> {
        for (i, key) in keys.iter().enumerate() {
            if keys[..i]
                .iter()
                .any(|other| other.name() == key.name() && other.id() == key.id())
            {
                return Err(AmbiguousKey {
                    name: key.name().clone(),
                    id: key.id(),
                });
            }
        }
        Ok(Self { keys })
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[NoteVerifierKey] {
        &self.keys
    }

    fn find(&self, name: &KeyName, id: KeyId) -> Option<&NoteVerifierKey> {
        self.keys
            .iter()
            .find(|key| key.name() == name && key.id() == id)
    }

    /// Verifies a note: signatures by unknown keys are ignored, a signature by a trusted key that
    /// does not verify rejects the whole note, and at least one trusted signature must verify.
    /// Returns the trusted keys that signed, each once.
    pub fn verify(&self, note: &Note) -> Result<Vec<&NoteVerifierKey>, NoteError> {
        let mut signed_by: Vec<&NoteVerifierKey> = Vec::new();
        for signature in &note.signatures {
            let Some(key) = self.find(&signature.name, signature.id) else {
                continue;
            };
            if !key.verify(note.text.as_bytes(), &signature.signature) {
                return Err(NoteError::BadSignature {
                    name: signature.name.clone(),
                    id: signature.id,
                });
            }
            if !signed_by
                .iter()
                .any(|k| k.id() == key.id() && k.name() == key.name())
            {
                signed_by.push(key);
            }
        }
        if signed_by.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(signed_by)
    }
}

/// Two trusted keys share a name and an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two trusted keys are both named {name} with id {id}")]
pub struct AmbiguousKey {
    pub name: KeyName,
    pub id: KeyId,
}

/// Why a note is malformed, cannot be signed, or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("a note must not contain control characters other than newline, found {0:?}")]
    ControlCharacter(char),
    #[error("a note text must end with a newline")]
    TextWithoutFinalNewline,
    #[error("a note needs a blank line followed by at least one signature line")]
    NoSignatures,
    #[error(
        "a signature line is `— <key name> <base64 of key id and signature>` followed by a newline"
    )]
    MalformedSignatureLine,
    #[error("a note carries at most 100 signatures")]
    TooManySignatures,
    #[error("the signature by trusted key {name}+{id} does not verify")]
    BadSignature { name: KeyName, id: KeyId },
    #[error("the note has no signature by a trusted key")]
    NoTrustedSignature,
}

#[cfg(test)]
mod tests {
    use super::*;

    // From golang.org/x/mod/sumdb/note: package documentation and note_test.go (TestOpen).
    const PETER_SIGNER: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VERIFIER: &str =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VERIFIER: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    // From the example of c2sp.org/signed-note (at commit d4c16da5e7687a016619074e78dad84b2c7238cc).
    const FOO_VERIFIER: &str =
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const FOO_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    fn verifiers(keys: &[&str]) -> NoteVerifiers {
        NoteVerifiers::new(
            keys.iter()
                .map(|k| NoteVerifierKey::parse(k).unwrap())
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn signing_the_go_reference_text_gives_the_reference_note_byte_for_byte() {
        let signer = NoteSignerKey::parse(PETER_SIGNER).unwrap();
        let note = Note::sign(TEXT, &[&signer]).unwrap();
        assert_eq!(note.to_message(), format!("{TEXT}\n{PETER_SIG}"));
    }

    #[test]
    fn the_c2sp_example_note_verifies() {
        let note = Note::parse(FOO_NOTE).unwrap();
        assert_eq!(note.text(), "This is an example message.\n");
        let trusted = verifiers(&[FOO_VERIFIER]);
        let signed_by = trusted.verify(&note).unwrap();
        assert_eq!(signed_by[0].name().as_str(), "example.com/foo");
        assert_eq!(note.to_message(), FOO_NOTE);
    }

    #[test]
    fn unknown_signers_are_ignored_and_known_ones_verified() {
        let message = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let note = Note::parse(&message).unwrap();
        assert_eq!(note.signatures().len(), 2);
        let peter = verifiers(&[PETER_VERIFIER]);
        assert_eq!(peter.verify(&note).unwrap().len(), 1);
        let peter_and_enoch = verifiers(&[PETER_VERIFIER, ENOCH_VERIFIER]);
        let both = peter_and_enoch.verify(&note).unwrap();
        let names: Vec<&str> = both.iter().map(|k| k.name().as_str()).collect();
        assert_eq!(names, ["PeterNeumann", "EnochRoot"]);
        assert_eq!(
            verifiers(&[]).verify(&note),
            Err(NoteError::NoTrustedSignature)
        );
    }

    #[test]
    fn a_bad_signature_by_a_trusted_key_rejects_the_note() {
        // As in Go's TestOpen: "ABCD" inserted into the base64 of the signature.
        let bad = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let note = Note::parse(&format!("{TEXT}\n{bad}")).unwrap();
        assert!(matches!(
            verifiers(&[PETER_VERIFIER]).verify(&note),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn a_changed_text_no_longer_verifies() {
        let message = format!("{TEXT}\n{PETER_SIG}").replace("answer", "Answer");
        let note = Note::parse(&message).unwrap();
        assert!(verifiers(&[PETER_VERIFIER]).verify(&note).is_err());
    }

    #[test]
    fn malformed_notes_are_refused() {
        // The malformed messages of Go's TestOpen.
        for message in [
            TEXT.to_owned(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\u{1}{TEXT}\n{PETER_SIG}"),
            format!(
                "{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!("{TEXT}\n{}", PETER_SIG.repeat(101)),
        ] {
            assert!(
                Note::parse(&message).is_err(),
                "{message:?} must be refused"
            );
        }
    }

    #[test]
    fn texts_without_a_final_newline_cannot_be_signed() {
        let signer = NoteSignerKey::parse(PETER_SIGNER).unwrap();
        assert_eq!(
            Note::sign("no newline", &[&signer]),
            Err(NoteError::TextWithoutFinalNewline)
        );
        assert_eq!(
            Note::sign("tab\there\n", &[&signer]),
            Err(NoteError::ControlCharacter('\t'))
        );
    }

    #[test]
    fn two_trusted_keys_with_the_same_name_and_id_are_refused() {
        let key = NoteVerifierKey::parse(ENOCH_VERIFIER).unwrap();
        assert!(NoteVerifiers::new(vec![key.clone(), key]).is_err());
    }

    #[test]
    fn a_note_can_be_cosigned() {
        let signer = NoteSignerKey::parse(PETER_SIGNER).unwrap();
        let other = NoteSignerKey::from_seed(KeyName::parse("EnochRoot").unwrap(), &[0; 32]);
        // Go's test key for EnochRoot is the key of the all-zero seed.
        assert_eq!(other.verifier_key().to_string(), ENOCH_VERIFIER);
        let mut note = Note::sign(TEXT, &[&signer]).unwrap();
        note.add_signature(&other).unwrap();
        assert_eq!(note.to_message(), format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}"));
    }
}
