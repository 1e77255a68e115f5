//! Any bytes given to the EPCIS document parser, the validator and the event hash: no input may
//! panic; every outcome is a value or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = epcis::document::Document::parse(data) {
        let _ = epcis::validate::validate(&document);
        let _ = epcis::hash::document_hashes(&document.to_value());
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = epcis::hash::document_hashes(&value);
    }
});
