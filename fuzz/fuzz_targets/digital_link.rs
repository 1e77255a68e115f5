//! Any text given to the GS1 Digital Link parsers (uncompressed and compressed), the EPC URI
//! parsers and the converters between them: no input may panic, a link that parses has a
//! canonical form that parses again to the same canonical form, and every link survives the trip
//! through its compressed form.
#![no_main]

use epcis::digital_link::{DigitalLink, MAX_COMPRESSED_URI_LEN, compress, decompress};
use libfuzzer_sys::fuzz_target;

/// A link's compressed form reads back as the link, its data attributes in ascending AI order
/// (unless it repeats a data attribute, which the compressed form cannot hold, or is too long for
/// `decompress` to read at all), and compresses again to itself.
fn check_compression(link: &DigitalLink) {
    let Ok(compressed) = compress(link) else {
        let mut ais: Vec<_> = link.attributes().iter().map(|a| a.ai()).collect();
        ais.sort();
        ais.dedup();
        assert!(
            ais.len() < link.attributes().len(),
            "only a repeated attribute may fail"
        );
        return;
    };
    if compressed.len() > MAX_COMPRESSED_URI_LEN {
        return;
    }
    let back = decompress(&compressed).expect("a compressed link decompresses");
    let mut attributes = link.attributes().to_vec();
    attributes.sort_by_key(|a| a.ai());
    assert_eq!(back.base(), link.base(), "{compressed}");
    assert_eq!(back.primary_key(), link.primary_key(), "{compressed}");
    assert_eq!(back.qualifiers(), link.qualifiers(), "{compressed}");
    assert_eq!(back.attributes(), attributes, "{compressed}");
    assert_eq!(
        back.other_parameters(),
        link.other_parameters(),
        "{compressed}"
    );
    assert_eq!(
        compress(&back).ok(),
        Some(compressed),
        "compression is not stable"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(link) = DigitalLink::parse(text) {
        let canonical = link.canonical();
        let again = DigitalLink::parse(&canonical).expect("a canonical link parses");
        assert_eq!(again.canonical(), canonical, "canonical form is not stable");
        for length in 6..=12 {
            let _ = epcis::digital_link::digital_link_to_urn(text, length);
        }
        check_compression(&link);
    }
    // The same text as a compressed segment, and as a whole URI.
    for uri in [format!("https://example.com/{text}"), text.to_owned()] {
        if let Ok(link) = decompress(&uri) {
            check_compression(&link);
        }
        let _ = DigitalLink::parse_any(&uri);
    }
    let _ = epcis::digital_link::urn_to_digital_link(text);
    let _ = epcis::epc::Epc::parse(text);
    let _ = epcis::epc::EpcUri::parse(text);
});
