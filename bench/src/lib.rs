#![doc = include_str!("../README.md")]

use std::fmt::Write;

/// A GS1 company prefix used by every generated identifier (7 digits: the GS1 examples' own).
const COMPANY_PREFIX: &str = "0614141";

/// One realistic dock-door ObjectEvent as JSON: 5 SGTIN EPCs, a read point and business location
/// (SGLN), bizStep and disposition, a purchase-order business transaction and a lot in the ILMD-free
/// OBSERVE shape a receiving portal reports. About 700 bytes, like the events the architecture's
/// measurements used. `n` makes the serials (and so the event hash) unique.
pub fn object_event_json(n: u64) -> String {
    let mut epcs = String::with_capacity(256);
    for k in 0..5 {
        if k > 0 {
            epcs.push(',');
        }
        let _ = write!(epcs, "\"urn:epc:id:sgtin:{COMPANY_PREFIX}.107346.{}\"", n * 5 + k);
    }
    let seconds = n % 60;
    let minutes = (n / 60) % 60;
    format!(
        concat!(
            "{{\"type\":\"ObjectEvent\",",
            "\"eventTime\":\"2026-11-20T08:{:02}:{:02}.{:03}+01:00\",",
            "\"eventTimeZoneOffset\":\"+01:00\",",
            "\"epcList\":[{}],",
            "\"action\":\"OBSERVE\",",
            "\"bizStep\":\"receiving\",",
            "\"disposition\":\"in_progress\",",
            "\"readPoint\":{{\"id\":\"urn:epc:id:sgln:{}.00777.dock-{}\"}},",
            "\"bizLocation\":{{\"id\":\"urn:epc:id:sgln:{}.00777.0\"}},",
            "\"bizTransactionList\":[{{\"type\":\"po\",\"bizTransaction\":\"urn:epcglobal:cbv:bt:0614141000005:PO-{}\"}}],",
            "\"example:portal\":{{\"antenna\":{},\"cycleMs\":500}}}}"
        ),
        minutes,
        seconds,
        n % 1000,
        epcs,
        COMPANY_PREFIX,
        n % 8,
        COMPANY_PREFIX,
        n / 100,
        n % 4 + 1,
    )
}

/// An EPCISDocument holding `events` ObjectEvents from [`object_event_json`], numbered from `first`.
pub fn object_event_document(first: u64, events: u64) -> Vec<u8> {
    let mut doc = String::with_capacity(events as usize * 720 + 256);
    doc.push_str(concat!(
        "{\"@context\":[\"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\",",
        "{\"example\":\"https://example.com/tagtrail/\"}],",
        "\"type\":\"EPCISDocument\",\"schemaVersion\":\"2.0\",",
        "\"creationDate\":\"2026-11-20T08:00:00.000+01:00\",",
        "\"epcisBody\":{\"eventList\":["
    ));
    for i in 0..events {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&object_event_json(first + i));
    }
    doc.push_str("]}}");
    doc.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_documents_are_valid_epcis_with_distinct_event_hashes() {
        let bytes = object_event_document(0, 50);
        let document = epcis::document::Document::parse(&bytes).expect("parses");
        assert_eq!(document.events().len(), 50);
        if let Err(violations) = epcis::validate::validate(&document) {
            panic!("generated document is invalid: {violations:#?}");
        }
        let hashes = epcis::hash::parsed_document_hashes(&document).expect("hashes");
        let distinct: std::collections::HashSet<_> = hashes.iter().map(|h| *h.as_bytes()).collect();
        assert_eq!(distinct.len(), 50);
    }

    #[test]
    fn a_generated_event_is_about_700_bytes() {
        let len = object_event_json(123_456).len();
        assert!((600..=800).contains(&len), "event is {len} bytes");
    }
}
