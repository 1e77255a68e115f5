//! What trace-api reads from a request: item identifiers in every form (EPC URI, Digital Link, tag
//! hex) and event hashes (hex or `ni:` URI) from its path, the scan page's language and form from
//! `Accept-Language` and `Accept`, a resolver link type and an NFC tap (NTAG 424 DNA SUN message)
//! from the query string, an index key (`/log/index/{root}/{key}`), the start and direction of a
//! recall trace (`/trace/{id}`). No input may panic; a key that parses reads back as its text; a
//! trace's start that parses reads back from its identifier as the same start; an identifier that parses stands for at least one
//! EPC, every one of which it is named by; a link type read back is no longer than the query it
//! came from; a tap read back prints as a query that reads as the same tap, and checking it with
//! keys answers (a tap no key made is never accepted).
#![no_main]

use ledger::history::Item;
use ledger::nfc::{Form, KeyVersion, Keys, Sun, SunKey};
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
    if let Ok(start) = ledger::trace::Subject::parse(text) {
        assert_eq!(
            ledger::trace::Subject::parse(&start.id()),
            Ok(start.clone()),
            "{start:?} reads back from {}",
            start.id()
        );
    }
    let _ = ledger::trace::Direction::parse(text);
    if let Ok(key) = text.parse::<ledger::index::IndexKey>() {
        assert_eq!(key.to_string(), text, "one spelling per key");
    }
    let _ = epcis::EventHash::parse_hex(text);
    let _ = epcis::EventHash::parse_ni(text);
    let _ = trace_api::negotiate::Language::of(text);
    let _ = trace_api::negotiate::wants_html(text);
    if let Ok(Some(sun)) = Sun::from_query(text) {
        for form in [Form::Named, Form::Short] {
            assert_eq!(Sun::from_query(&sun.query(form)), Ok(Some(sun.clone())));
        }
        let keys = Keys::new(vec![KeyVersion {
            version: 1,
            meta_read: SunKey::from_bytes([0x42; 16]),
            file_read_master: SunKey::from_bytes([0x43; 16]),
        }])
        .unwrap();
        if let Ok(tap) = keys.verify(&sun) {
            // Only a tap made with these keys verifies: made again, it is the same message.
            let made = keys.version(1).unwrap().tap(tap.uid, tap.counter, [0; 5]);
            assert_eq!(made.mac, sun.mac);
        }
    }
    if let Some(link_type) = trace_api::negotiate::link_type(text) {
        assert!(link_type.len() <= text.len(), "{link_type:?} from {text:?}");
    }
});
