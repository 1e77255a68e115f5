//! Property tests of the wire formats: every encoder round-trips through its decoder, and every
//! decoder and parser returns an error instead of panicking on arbitrary input.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use epcis::EventHash;
use ledger::batch::{BatchStatement, MAX_BATCH_SIZE, StatementHash};
use ledger::bundle::{TLOG_PROOF_HEADER, TlogProof};
use ledger::checkpoint::Checkpoint;
use ledger::note::{Note, NoteSignerKey, NoteVerifierKey};
use ledger::record::{Attestation, LeafRecord};
use ledger::tiles::{EntryBundleId, TileId, decode_entry_bundle, encode_entry_bundle};
use ledger::{DeviceId, RootHash, SiteId, UnixMillis};
use proptest::prelude::*;

fn identifier() -> impl Strategy<Value = String> {
    "[!-~é€]{1,40}"
}

fn attestation() -> impl Strategy<Value = Attestation> {
    prop_oneof![
        (identifier(), any::<[u8; 32]>(), 0..MAX_BATCH_SIZE).prop_map(
            |(device, statement, index)| {
                Attestation::Device {
                    device: DeviceId::parse(&device).unwrap(),
                    statement: StatementHash::from_bytes(statement),
                    index,
                }
            }
        ),
        identifier().prop_map(|site| Attestation::Unattested {
            site: SiteId::parse(&site).unwrap()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn leaf_records_round_trip(
        event in any::<[u8; 32]>(),
        text in prop::collection::vec(any::<u8>(), 0..64),
        at in any::<u64>(),
        attestation in attestation(),
    ) {
        let record = LeafRecord::new(EventHash::from_bytes(event), &text, UnixMillis::from_millis(at), attestation.clone()).unwrap();
        prop_assert_eq!(LeafRecord::decode(&record.encode()), Ok(record));
        let old = LeafRecord::version_1(EventHash::from_bytes(event), UnixMillis::from_millis(at), attestation).unwrap();
        prop_assert_eq!(LeafRecord::decode(&old.encode()), Ok(old));
    }

    #[test]
    fn a_leaf_record_with_any_byte_cut_off_is_refused(
        event in any::<[u8; 32]>(),
        attestation in attestation(),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = LeafRecord::new(EventHash::from_bytes(event), b"{}", UnixMillis::from_millis(1), attestation)
            .unwrap()
            .encode();
        let len = cut.index(bytes.len());
        prop_assert!(LeafRecord::decode(&bytes[..len]).is_err());
    }

    #[test]
    fn batch_statements_round_trip(
        device in identifier(),
        root in any::<[u8; 32]>(),
        size in 1..=MAX_BATCH_SIZE,
        at in any::<u64>(),
        sequence in any::<u64>(),
    ) {
        let statement = BatchStatement::new(
            DeviceId::parse(&device).unwrap(),
            RootHash::from_bytes(root),
            size,
            UnixMillis::from_millis(at),
            sequence,
        )
        .unwrap();
        prop_assert_eq!(BatchStatement::decode(&statement.encode()), Ok(statement));
    }

    #[test]
    fn checkpoints_round_trip(origin in "[!-~]{1,40}", size in 0u64..=1 << 63, root in any::<[u8; 32]>()) {
        let checkpoint = Checkpoint::new(
            ledger::checkpoint::Origin::parse(&origin).unwrap(),
            ledger::TreeSize::new(size).unwrap(),
            RootHash::from_bytes(root),
        );
        prop_assert_eq!(Checkpoint::from_text(&checkpoint.to_text()), Ok(checkpoint));
    }

    #[test]
    fn signed_notes_round_trip_and_verify(text in "([ -~]{0,30}\n){1,4}", seed in any::<[u8; 32]>()) {
        let signer = NoteSignerKey::from_seed(ledger::note::KeyName::parse("k.example").unwrap(), &seed);
        let message = Note::sign(&text, &[&signer]).unwrap().to_message();
        let note = Note::parse(&message).unwrap();
        prop_assert_eq!(note.text(), text.as_str());
        let verifiers = ledger::note::NoteVerifiers::new(vec![signer.verifier_key()]).unwrap();
        prop_assert!(verifiers.verify(&note).is_ok());
        prop_assert_eq!(NoteVerifierKey::parse(&signer.verifier_key().to_string()), Ok(signer.verifier_key()));
    }

    #[test]
    fn tile_paths_round_trip(
        (level, index) in (0u8..=6).prop_flat_map(|level| {
            // Tiles whose first leaf lies below 2^63.
            (Just(level), 0u64..1 << (63 - 8 * (u32::from(level) + 1)))
        }),
        width in 1u16..=256,
    ) {
        let tile = TileId::new(level, index, width).unwrap();
        prop_assert_eq!(TileId::parse_path(&tile.path()), Ok(tile));
        let bundle = EntryBundleId::new(index >> 8, width).unwrap();
        prop_assert_eq!(EntryBundleId::parse_path(&bundle.path()), Ok(bundle));
    }

    #[test]
    fn entry_bundles_round_trip(entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..=256)) {
        let slices: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        let bundle = encode_entry_bundle(slices.iter().copied()).unwrap();
        prop_assert_eq!(decode_entry_bundle(&bundle).unwrap(), slices);
    }

    #[test]
    fn binary_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = LeafRecord::decode(&bytes);
        let _ = BatchStatement::decode(&bytes);
        let _ = decode_entry_bundle(&bytes);
        let mut with_context = b"tagtrail/device-batch/v1\n".to_vec();
        with_context.extend_from_slice(&bytes);
        let _ = BatchStatement::decode(&with_context);
        for version in [1u8, 2] {
            let mut with_version = vec![version];
            with_version.extend_from_slice(&bytes);
            let _ = LeafRecord::decode(&with_version);
        }
        let mut versioned = vec![1u8];
        versioned.extend_from_slice(&bytes);
        for bytes in [&bytes, &versioned] {
            if let Ok(head) = ledger::index::IndexHead::decode(bytes) {
                prop_assert_eq!(&head.encode(), bytes);
            }
            if let Ok(proof) = ledger::index::KeyProof::decode(bytes) {
                prop_assert_eq!(&proof.encode(), bytes);
            }
        }
    }

    #[test]
    fn text_parsers_never_panic(text in "\\PC{0,200}") {
        let _ = Note::parse(&text);
        let _ = Checkpoint::from_text(&text);
        let _ = NoteVerifierKey::parse(&text);
        let _ = NoteSignerKey::parse(&text);
        let _ = TileId::parse_path(&text);
        let _ = EntryBundleId::parse_path(&text);
        let _ = serde_json::from_str::<ledger::bundle::ProofBundle>(&text);
        let _ = serde_json::from_str::<ledger::bundle::ProvenanceBundle>(&text);
        let _ = TlogProof::decode(&text);
        let _ = TlogProof::decode(&format!("{TLOG_PROOF_HEADER}\n{text}"));
    }

    #[test]
    fn tlog_proofs_round_trip(
        extra in prop::collection::vec(any::<u8>(), 0..120),
        index in 0u64..1 << 63,
        hashes in prop::collection::vec(any::<[u8; 32]>(), 0..=63),
        checkpoint in "[ -~]{1,30}(\n[ -~]{0,30}){0,4}\n?",
    ) {
        let hashes = hashes.into_iter().map(ledger::Hash::from_bytes).collect();
        let proof = TlogProof::new(ledger::LeafIndex::new(index).unwrap(), hashes, checkpoint)
            .with_extra(extra);
        prop_assert_eq!(TlogProof::decode(&proof.encode()), Ok(proof));
    }

    #[test]
    fn note_like_text_never_panics_the_parser(lines in prop::collection::vec("(\u{2014} )?[ -~]{0,60}", 0..6)) {
        let text = lines.join("\n");
        let _ = Note::parse(&text);
        let _ = Note::parse(&format!("a\n\n{text}\n"));
    }
}
