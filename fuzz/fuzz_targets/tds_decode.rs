//! Any EPC memory bank contents given to the Tag Data Standard decoder, as bytes and as hex: no
//! input may panic, and whatever decodes must encode back to the same bytes.
#![no_main]

use epcis::tds::EpcTag;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tag) = EpcTag::from_bytes(data) {
        let _ = tag.describe();
        let uri = tag.tag_uri();
        let reparsed = EpcTag::parse_tag_uri(&uri).expect("a decoded tag's URI parses");
        assert_eq!(
            reparsed.bytes(),
            tag.bytes(),
            "tag URI round trip changed the bits"
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = EpcTag::from_hex(text);
        let _ = EpcTag::parse_tag_uri(text);
    }
});
