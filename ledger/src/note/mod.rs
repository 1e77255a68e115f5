//! C2SP signed notes (<https://c2sp.org/signed-note>) and their Ed25519 keys.

mod key;
mod signed;

pub use key::{
    ED25519_SIGNATURE_LEN, KeyId, KeyName, KeyNameError, KeyParseError, NoteSignerKey,
    NoteVerifierKey, SIGNATURE_TYPE_ED25519,
};
pub use signed::{AmbiguousKey, MAX_SIGNATURES, Note, NoteError, NoteSignature, NoteVerifiers};
