//! What trace-api reads from a request: item identifiers in every form (EPC URI, Digital Link, tag
//! hex) and event hashes (hex or `ni:` URI) from its path, the scan page's language and form from
//! `Accept-Language` and `Accept`, a resolver link type from the query string. No input may
//! panic; an identifier that parses stands for at least one EPC, every one of which it is named
//! by; a link type read back is no longer than the query it came from.
#![no_main]

use ledger::history::Item;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(item) = Item::parse(text) {
        assert!(
            !item.epcs.is_empty(),
            "an identifier that parses names an EPC"
        );
        for epc in &item.epcs {
            assert!(item.is_named_by(epc), "{epc} names the item it came from");
        }
    }
    let _ = epcis::EventHash::parse_hex(text);
    let _ = epcis::EventHash::parse_ni(text);
    let _ = trace_api::negotiate::Language::of(text);
    let _ = trace_api::negotiate::wants_html(text);
    if let Some(link_type) = trace_api::negotiate::link_type(text) {
        assert!(link_type.len() <= text.len(), "{link_type:?} from {text:?}");
    }
});
