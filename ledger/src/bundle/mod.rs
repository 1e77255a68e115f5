//! Proof bundles: the versioned JSON that lets anyone check one event (a proof bundle) or an
//! item's whole history (a provenance bundle) offline, C2SP tlog-proofs of one entry, and their
//! verifiers.

mod complete;
mod export;
mod format;
mod fsma;
mod participants;
mod provenance;
mod story;
mod tlog_proof;
mod verify;

pub use complete::{COMPLETENESS_UNPROVEN, Followed, followed};
pub use export::{
    EXPORT_FORMAT, EXPORT_UNCOVERED, ExportBundle, ExportFormat, ExportReport, ExportVersion,
    MANIFEST_ORIGIN, MAX_COVER_DAYS, MAX_COVER_KEYS, TRACE_UNJUDGED, TracedExport, cover_keys,
    export_keys, manifest_text, trace_events, verify_export,
};
pub use format::{
    AnchorRef, AnchoredCheckpoint, BlockHash, BundleVersion, ChainId, ContractAddress,
    DeviceAttestation, HexBytes, HexValueError, ProofBundle, ReceiptEvidence, TxHash,
    document_context,
};
pub use fsma::{FSMA204_COLUMNS, fsma204_csv};
pub(crate) use fsma::{cell as csv_cell, line as csv_line};
pub use participants::{
    DeviceEntry, OrganisationEntry, Participants, ParticipantsError, RecipientKeyEntry, SiteEntry,
};
pub use provenance::{
    EventReport, IndexEvidence, ProvenanceBundle, ProvenanceEvent, ProvenanceReport,
    ProvenanceVersion, Why, verify_provenance,
};
pub use story::AUTHORITY_UNCHECKED;
pub use tlog_proof::{TLOG_PROOF_HEADER, TlogProof, TlogProofError, verify_tlog_proof};
pub use verify::{
    Check, CheckName, DeviceRegistry, Outcome, Report, TrustedKeys, Verdict, recompute_event_hash,
    verify_bundle,
};
