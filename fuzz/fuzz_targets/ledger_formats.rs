//! Any bytes given to the ledger's decoders of outside input: signed notes and checkpoints, note
//! keys, leaf records, device batch statements and their HTTP headers, device and recipient key
//! files, tile paths, entry bundles, proof and provenance bundles, exports, participants files, index
//! heads and key proofs, access-log entries and listings, access grants and request signatures, C2SP
//! tlog-proofs, and sealed values, their commitments in hex, and key sets (which, when they decode, encode to the same bytes). No input may
//! panic; a bundle or proof that parses is verified (and may fail) without panicking,
//! a provenance bundle's story and authority marks are recomputed (with and without the parties of
//! a participants file that parses), and a tlog-proof that parses has one spelling.
#![no_main]

use ledger::bundle::{
    ExportBundle, Participants, ProofBundle, ProvenanceBundle, TlogProof, TrustedKeys, fsma204_csv,
    verify_bundle, verify_export, verify_provenance, verify_tlog_proof,
};
use ledger::checkpoint::{Checkpoint, Origin, TrustedLog};
use ledger::note::{Note, NoteSignerKey, NoteVerifierKey, NoteVerifiers};
use libfuzzer_sys::fuzz_target;

/// An index head and a key proof, each with one encoding; a proof that decodes is verified
/// (and may fail) against a head that decodes from the bytes after a split point.
fn index_formats(data: &[u8]) {
    use ledger::index::{IndexHead, KeyProof};
    if let Ok(head) = IndexHead::decode(data) {
        assert_eq!(head.encode(), data, "an index head has one encoding");
    }
    if let Ok(proof) = KeyProof::decode(data) {
        assert_eq!(proof.encode(), data, "a key proof has one encoding");
    }
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let (head, proof) = rest.split_at(split);
    if let (Ok(head), Ok(proof)) = (IndexHead::decode(head), KeyProof::decode(proof)) {
        let _ = proof.verify(&head);
    }
}

/// An access grant's text has one spelling, and a signed one is opened against a key; a request
/// signature's two headers (the text's first line and the rest) that parse are verified over a
/// request of the rest of the text.
fn grant_formats(text: &str, keys: &NoteVerifiers) {
    use ledger::grant::{Grant, ReceivedSignature, SignedParts};
    if let Ok(grant) = Grant::parse(text) {
        assert_eq!(grant.text(), text, "a grant has one spelling");
    }
    let _ = Grant::open(text, keys);
    let (input, rest) = text.split_once('\n').unwrap_or((text, ""));
    let (signature, request) = rest.split_once('\n').unwrap_or((rest, ""));
    if let Ok(received) = ReceivedSignature::parse(input, signature) {
        let mut fields = request.splitn(4, ' ');
        let parts = SignedParts {
            method: fields.next().unwrap_or(""),
            path: fields.next().unwrap_or(""),
            query: fields.next().unwrap_or(""),
            content_digest: fields.next(),
        };
        for key in keys.keys() {
            let _ = received.verify(&parts, key);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = ledger::record::LeafRecord::decode(data);
    let _ = ledger::batch::BatchStatement::decode(data);
    let _ = ledger::tiles::decode_entry_bundle(data);
    if let Ok(field) = ledger::sealed::SealedField::decode(data) {
        assert_eq!(field.encode(), data, "a sealed value has one encoding");
    }
    if let Ok(keys) = ledger::sealed::KeySet::decode(data) {
        assert_eq!(keys.encode(), data, "a key set has one encoding");
    }
    index_formats(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Note::parse(text);
    let _ = Checkpoint::from_text(text);
    let _ = NoteVerifierKey::parse(text);
    let _ = NoteSignerKey::parse(text);
    let _ = ledger::tiles::TileId::parse_path(text);
    let _ = ledger::tiles::EntryBundleId::parse_path(text);
    if let Ok(statement) = ledger::headers::parse_statement_header(text) {
        // A header value that parses is the one spelling of its statement.
        let value = ledger::headers::statement_header_value(&statement);
        assert_eq!(
            ledger::headers::parse_statement_header(&value).ok(),
            Some(statement)
        );
    }
    if let Ok(signature) = ledger::headers::parse_signature_header(text) {
        let value = ledger::headers::signature_header_value(&signature);
        assert_eq!(value, text.trim(), "a signature header has one spelling");
    }
    let _ = ledger::key_file::parse_private_key_file(text);
    let _ = ledger::key_file::parse_public_key_file(text);
    let _ = ledger::key_file::parse_recipient_secret_file(text);
    if let Ok(key) = ledger::key_file::parse_recipient_key(text) {
        // trace-api's path spelling reads back to the same key.
        assert_eq!(
            ledger::sealed::RecipientKey::parse_hex(&key.to_hex()),
            Some(key)
        );
    }
    let _ = ledger::sealed::Commitment::parse_hex(text);
    if let Ok(commitment) = ledger::index::IndexCommitment::parse_line(text) {
        assert_eq!(commitment.to_line(), text, "an index line has one spelling");
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = ledger::sealed::SealedField::from_json(&value);
        if let Some(event) = value.as_object() {
            let _ = ledger::sealed::sealed_fields(event);
        }
    }
    let log = || {
        let signer = NoteSignerKey::from_seed(
            ledger::note::KeyName::parse("fuzz.example/log").expect("a valid key name"),
            &[7; 32],
        );
        let verifiers =
            NoteVerifiers::new(vec![signer.verifier_key()]).expect("one key is never ambiguous");
        let origin = Origin::parse("fuzz.example/log").expect("a valid origin");
        TrustedLog::new(origin, verifiers)
    };
    if let Ok(bundle) = serde_json::from_str::<ProofBundle>(text) {
        let _ = verify_bundle(&bundle, &TrustedKeys::new(log()));
    }
    let parties = serde_json::from_str::<Participants>(text)
        .ok()
        .and_then(|participants| participants.parties().ok());
    if let Ok(bundle) = serde_json::from_str::<ProvenanceBundle>(text) {
        let _ = verify_provenance(&bundle, &TrustedKeys::new(log()));
        // The registry of the fuzz log: one brand owning the prefix of the GS1 examples.
        let mut registry = ledger::history::Parties::new();
        let brand = ledger::OrganisationId::parse("brand").expect("a valid organisation id");
        registry.add_prefix(
            brand,
            epcis::epc::CompanyPrefix::parse("0614141").expect("a valid company prefix"),
        );
        let trusted = TrustedKeys::new(log()).with_parties(parties.unwrap_or(registry));
        let _ = verify_provenance(&bundle, &trusted);
    }
    // An export: its query re-run on its events, its index proofs and spreadsheet checked.
    if let Ok(export) = serde_json::from_str::<ExportBundle>(text) {
        let _ = verify_export(&export, &TrustedKeys::new(log()));
        let _ = fsma204_csv(&export.events.iter().collect::<Vec<_>>());
    }
    // An access-log entry that reads has one spelling; a listing that reads is verified.
    if let Ok(entry) = ledger::access_log::AccessEntry::parse(text) {
        assert_eq!(
            entry.to_bytes(),
            data,
            "an access-log entry has one spelling"
        );
    }
    if let Ok(listing) = serde_json::from_str::<ledger::access_log::Listing>(text) {
        let _ = listing.verify(&log());
    }
    grant_formats(text, log().keys());
    if let Ok(proof) = TlogProof::decode(text) {
        let _ = verify_tlog_proof(&proof, &log(), None);
        assert_eq!(
            TlogProof::decode(&proof.encode()).ok(),
            Some(proof),
            "a tlog-proof round-trips"
        );
    }
});
