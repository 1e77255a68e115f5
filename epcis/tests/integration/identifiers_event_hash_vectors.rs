//! Every EPC URN in the CBV 2.0 event-hash reference documents converts to the GS1 Digital Link
//! URI that the reference pre-hash strings hold (testdata/event-hash/examples).

// Tests may panic on a broken expectation; that is how they fail.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use epcis::digital_link::urn_to_digital_link;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/event-hash/examples")
}

/// The EPC URNs written in a document: `urn:epc:id:`, `urn:epc:class:` and `urn:epc:idpat:` up to
/// the closing quote or tag.
fn epc_urns(document: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = document;
    while let Some(start) = rest.find("urn:epc:") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c == '"' || c == '<' || c.is_whitespace())
            .unwrap_or(tail.len());
        let urn = &tail[..end];
        if ["urn:epc:id:", "urn:epc:class:", "urn:epc:idpat:"]
            .iter()
            .any(|p| urn.starts_with(p))
        {
            found.push(urn.to_owned());
        }
        rest = &tail[end..];
    }
    found
}

#[test]
fn every_urn_in_the_reference_documents_converts_to_the_digital_link_in_its_prehash() {
    let mut checked = 0;
    let entries = fs::read_dir(examples_dir()).expect("the event-hash examples are in testdata");
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        let is_document = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonld" | "xml")
        );
        let prehashes = path.with_extension("prehashes");
        if !is_document || !prehashes.exists() {
            continue;
        }
        let document = fs::read_to_string(&path).expect("a readable example document");
        let expected = fs::read_to_string(&prehashes).expect("a readable prehash file");
        for urn in epc_urns(&document) {
            let link = urn_to_digital_link(&urn)
                .unwrap_or_else(|e| panic!("{urn} in {} did not convert: {e}", path.display()));
            assert!(
                expected.contains(&link),
                "{urn} in {} converted to {link}, which its prehashes do not contain",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked > 100,
        "only {checked} URNs were checked; the vectors seem to be missing"
    );
}
