//! What trace-api reads from a request's path: item identifiers in every form (EPC URI, Digital
//! Link, tag hex) and event hashes (hex or `ni:` URI). No input may panic; an identifier that
//! parses stands for at least one EPC, every one of which it is named by.
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
});
