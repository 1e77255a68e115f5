//! Proof bundles: the versioned JSON that lets anyone check one event offline, and its verifier.

mod format;
mod verify;

pub use format::{
    AnchorRef, AnchoredCheckpoint, BundleVersion, ChainId, ContractAddress, DeviceAttestation,
    HexValueError, ProofBundle, TxHash, document_context,
};
pub use verify::{
    Check, CheckName, DeviceRegistry, Outcome, Report, TrustedKeys, Verdict, recompute_event_hash,
    verify_bundle,
};
