//! Any text given to the GS1 Digital Link parsers (uncompressed and compressed), the EPC URI
//! parsers and the converters between them: no input may panic, a link that parses has a
//! canonical form that parses again to the same canonical form, every link that either parser
//! returns reads back from its uncompressed rendering, and every link survives the trip through
//! its compressed form, read back by `decompress` and by `parse_any`.
#![no_main]

use epcis::digital_link::{
    DigitalLink, DigitalLinkError, MAX_COMPRESSED_URI_LEN, compress, decompress,
};
use libfuzzer_sys::fuzz_target;

/// A link's uncompressed rendering (its `Display`) parses to the same link, with either parser.
fn check_rendering(link: &DigitalLink) {
    let text = link.to_string();
    assert_eq!(DigitalLink::parse(&text).as_ref(), Ok(link), "{text}");
    if text.len() <= MAX_COMPRESSED_URI_LEN {
        assert_eq!(DigitalLink::parse_any(&text).as_ref(), Ok(link), "{text}");
    }
}

/// A link's compressed form reads back, through `decompress` and through `parse_any`, as the
/// link with its data attributes in ascending AI order (the compressed form does not carry
/// their order; a link already in that order, as every link `decompress` returns is, reads back
/// as itself), and compresses again to itself. `compress` may refuse only a link repeating a
/// data attribute or whose base path ends in an AI, as documented; `decompress` and `parse_any`
/// may refuse only a compressed form too long for them.
fn check_compression(link: &DigitalLink) {
    let compressed = match compress(link) {
        Ok(compressed) => compressed,
        Err(DigitalLinkError::DuplicateAi { ai }) => {
            let count = link.attributes().iter().filter(|a| a.ai() == ai).count();
            assert!(count > 1, "{link}: AI ({ai}) is not repeated");
            return;
        }
        Err(DigitalLinkError::AiInCompressedBase { segment }) => {
            let last_two: Vec<&str> = link.base().rsplit('/').take(2).collect();
            assert!(last_two.contains(&segment.as_str()), "{link}: {segment}");
            return;
        }
        Err(error) => panic!("{link} does not compress: {error}"),
    };
    if compressed.len() > MAX_COMPRESSED_URI_LEN {
        assert!(
            matches!(
                DigitalLink::parse_any(&compressed),
                Err(DigitalLinkError::TooLong { .. })
            ),
            "{compressed}"
        );
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
    if link.attributes().is_sorted_by_key(|a| a.ai()) {
        assert_eq!(&back, link, "{compressed}");
    }
    assert_eq!(
        DigitalLink::parse_any(&compressed).as_ref(),
        Ok(&back),
        "parse_any reads {compressed} otherwise than decompress"
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
        check_rendering(&link);
        check_compression(&link);
    }
    // The same text as a compressed segment, and as a whole URI.
    for uri in [format!("https://example.com/{text}"), text.to_owned()] {
        if let Ok(link) = decompress(&uri) {
            check_rendering(&link);
            check_compression(&link);
        }
        let _ = DigitalLink::parse_any(&uri);
    }
    let _ = epcis::digital_link::urn_to_digital_link(text);
    let _ = epcis::epc::Epc::parse(text);
    let _ = epcis::epc::EpcUri::parse(text);
});
