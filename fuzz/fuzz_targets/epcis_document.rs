//! Any bytes given to the EPCIS document parser, the validator and the event hash: no input may
//! panic; every outcome is a value or a typed error. Differential: the document parser (which reads
//! JSON with its own fast reader) must accept exactly what serde_json accepts and read the same
//! values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reference = serde_json::from_slice::<serde_json::Value>(data);
    match epcis::document::Document::parse(data) {
        Ok(document) => {
            let value =
                reference.expect("the document parser accepted JSON that serde_json refuses");
            assert_eq!(
                document.to_value(),
                value,
                "the document parser read different values"
            );
            let _ = epcis::validate::validate(&document);
            let hashes = epcis::hash::parsed_document_hashes(&document);
            let reference_hashes = epcis::hash::document_hashes(&value);
            if let (Ok(hashes), Ok(reference_hashes)) = (&hashes, &reference_hashes) {
                let reference_hashes: Vec<_> =
                    reference_hashes.iter().map(|(_, hash)| *hash).collect();
                assert_eq!(
                    hashes, &reference_hashes,
                    "hashes differ between the two paths"
                );
            }
        }
        Err(epcis::document::ParseError::Json(_)) => {
            assert!(
                reference.is_err(),
                "the document parser refused JSON that serde_json accepts"
            );
        }
        Err(_) => {}
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = epcis::hash::document_hashes(&value);
    }
});
