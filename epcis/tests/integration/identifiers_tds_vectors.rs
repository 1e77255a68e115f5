//! Known answers from the GS1 EPC Tag Data Standard.
//!
//! Sources: TDS appendix E ("Example of a specific trade item", SGTIN-96), and TDS 2.3 appendix
//! E.3 (one example per legacy binary scheme), as transcribed in the test suite of the open-source
//! Tag Data Translation implementation by a TDS co-author (github.com/dannyhaak/TagDataTranslation,
//! TDS23Tests).

// Tests may panic on a broken expectation; that is how they fail.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use epcis::epc::Epc;
use epcis::tds::{
    DecodeError, EncodeError, EpcTag, Filter, Scheme, Sgtin96, TagUriError, describe_hex,
};

/// (hex, tag URI, pure identity URI)
const VECTORS: &[(&str, &str, &str)] = &[
    (
        "3074257BF7194E4000001A85",
        "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
        "urn:epc:id:sgtin:0614141.812345.6789",
    ),
    (
        "3066C4409047E140075BCD15",
        "urn:epc:tag:sgtin-96:3.95060001343.05.123456789",
        "urn:epc:id:sgtin:95060001343.05.123456789",
    ),
    (
        "3666C4409047E159B2C2BF100000000000000000000000000000",
        "urn:epc:tag:sgtin-198:3.95060001343.05.32a%2Fb",
        "urn:epc:id:sgtin:95060001343.05.32a%2Fb",
    ),
    (
        "311BA1B300CE0A6A83000000",
        "urn:epc:tag:sscc-96:0.952012.03456789123",
        "urn:epc:id:sscc:952012.03456789123",
    ),
    (
        "3276451FD46072000000162E",
        "urn:epc:tag:sgln-96:3.9521141.12345.5678",
        "urn:epc:id:sgln:9521141.12345.5678",
    ),
    (
        "3976451FD46072CD9615F8800000000000000000000000000000",
        "urn:epc:tag:sgln-195:3.9521141.12345.32a%2Fb",
        "urn:epc:id:sgln:9521141.12345.32a%2Fb",
    ),
    (
        "3376451FD40C0E400000162E",
        "urn:epc:tag:grai-96:3.9521141.12345.5678",
        "urn:epc:id:grai:9521141.12345.5678",
    ),
    (
        "3776451FD40C0E59B2C2BF1000000000000000000000",
        "urn:epc:tag:grai-170:3.9521141.12345.32a%2Fb",
        "urn:epc:id:grai:9521141.12345.32a%2Fb",
    ),
    (
        "3476451FD40000000000162E",
        "urn:epc:tag:giai-96:3.9521141.5678",
        "urn:epc:id:giai:9521141.5678",
    ),
    (
        "3876451FD59B2C2BF10000000000000000000000000000000000",
        "urn:epc:tag:giai-202:3.9521141.32a%2Fb",
        "urn:epc:id:giai:9521141.32a%2Fb",
    ),
    (
        "2D76451FD4499602D2000000",
        "urn:epc:tag:gsrn-96:3.9521141.1234567890",
        "urn:epc:id:gsrn:9521141.1234567890",
    ),
    (
        "2E76451FD4499602D2000000",
        "urn:epc:tag:gsrnp-96:3.9521141.1234567890",
        "urn:epc:id:gsrnp:9521141.1234567890",
    ),
    (
        "2C76451FD46072000000162E",
        "urn:epc:tag:gdti-96:3.9521141.12345.5678",
        "urn:epc:id:gdti:9521141.12345.5678",
    ),
    (
        "3E76451FD7039B061438997367D0C18B266D1AB66EE0",
        "urn:epc:tag:gdti-174:3.9521141.98765.ABCDefgh012345678",
        "urn:epc:id:gdti:9521141.98765.ABCDefgh012345678",
    ),
    (
        "3F76451FD612640000019907",
        "urn:epc:tag:sgcn-96:3.9521141.67890.04711",
        "urn:epc:id:sgcn:9521141.67890.04711",
    ),
    (
        "3500E86F8000A9E000000586",
        "urn:epc:tag:gid-96:952056.2718.1414",
        "urn:epc:id:gid:952056.2718.1414",
    ),
];

#[test]
fn every_tds_example_decodes_to_its_uris() {
    for (hex, tag_uri, id_uri) in VECTORS {
        let tag = EpcTag::from_hex(hex).unwrap_or_else(|e| panic!("{hex}: {e}"));
        assert_eq!(tag.tag_uri(), *tag_uri, "{hex}");
        assert_eq!(tag.id_uri(), *id_uri, "{hex}");
        assert_eq!(tag.to_hex(), *hex, "{hex}");
    }
}

#[test]
fn every_tds_example_decodes_from_lower_case_hex() {
    for (hex, tag_uri, _) in VECTORS {
        let tag = EpcTag::from_hex(&hex.to_ascii_lowercase()).map(|t| t.tag_uri());
        assert_eq!(tag.as_deref(), Ok(*tag_uri), "{hex}");
    }
}

#[test]
fn every_tds_example_tag_uri_encodes_to_its_hex() {
    for (hex, tag_uri, _) in VECTORS {
        let tag = EpcTag::parse_tag_uri(tag_uri).unwrap_or_else(|e| panic!("{tag_uri}: {e}"));
        assert_eq!(tag.to_hex(), *hex, "{tag_uri}");
        assert_eq!(tag.tag_uri(), *tag_uri);
    }
}

#[test]
fn every_tds_example_pure_identity_encodes_with_scheme_and_filter() {
    for (hex, tag_uri, id_uri) in VECTORS {
        let scheme_name = tag_uri
            .trim_start_matches("urn:epc:tag:")
            .split(':')
            .next()
            .unwrap_or_default();
        let scheme = Scheme::from_name(scheme_name).expect("a supported scheme");
        let filter = if scheme.has_filter() {
            let digit = tag_uri
                .rsplit(':')
                .next()
                .and_then(|b| b.chars().next())
                .and_then(|c| c.to_digit(10));
            Filter::new(digit.expect("a filter digit")).expect("a filter of 0 to 7")
        } else {
            Filter::ALL_OTHERS
        };
        let epc = Epc::parse(id_uri).unwrap_or_else(|e| panic!("{id_uri}: {e}"));
        let tag = EpcTag::encode(scheme, filter, epc).unwrap_or_else(|e| panic!("{id_uri}: {e}"));
        assert_eq!(tag.to_hex(), *hex, "{id_uri}");
    }
}

#[test]
fn the_fast_sgtin_96_decoder_agrees_with_the_general_one() {
    for (hex, tag_uri, id_uri) in VECTORS.iter().filter(|(h, _, _)| h.starts_with("30")) {
        let fast = Sgtin96::from_hex(hex).unwrap_or_else(|e| panic!("{hex}: {e}"));
        assert_eq!(fast.tag_uri(), *tag_uri);
        assert_eq!(fast.id_uri(), *id_uri);
        assert_eq!(fast.to_hex(), *hex);
    }
}

#[test]
fn the_sgtin_example_describes_itself_for_json() {
    let described = describe_hex("3074257BF7194E4000001A85").expect("the TDS example decodes");
    let json = serde_json::to_value(&described).expect("serialisable");
    assert_eq!(json["hex"], "3074257BF7194E4000001A85");
    assert_eq!(json["scheme"], "sgtin-96");
    assert_eq!(json["filter"], 3);
    assert_eq!(json["idUri"], "urn:epc:id:sgtin:0614141.812345.6789");
    assert_eq!(json["tagUri"], "urn:epc:tag:sgtin-96:3.0614141.812345.6789");
    // GTIN 80614141123458: the event-hash vectors convert this SGTIN's GTIN the same way.
    assert_eq!(
        json["digitalLink"],
        "https://id.gs1.org/01/80614141123458/21/6789"
    );
}

#[test]
fn a_gid_has_no_filter_and_no_digital_link() {
    let described = describe_hex("3500E86F8000A9E000000586").expect("the TDS example decodes");
    assert_eq!(described.filter, None);
    assert_eq!(described.digital_link, None);
}

#[test]
fn an_unknown_header_is_named() {
    assert_eq!(
        EpcTag::from_hex("E200680A0000000000000000").err(),
        Some(DecodeError::UnknownHeader { header: 0xE2 })
    );
}

#[test]
fn a_truncated_sgtin_198_is_a_length_error() {
    let short = &VECTORS[2].0[..40];
    assert!(matches!(
        EpcTag::from_hex(short),
        Err(DecodeError::Length {
            scheme: "sgtin-198",
            expected_bits: 198,
            found_bits: 160
        })
    ));
}

#[test]
fn an_sgtin_96_is_exactly_24_hex_digits() {
    assert!(matches!(
        EpcTag::from_hex("3074257BF7194E4000001A8500"),
        Err(DecodeError::Length {
            scheme: "sgtin-96",
            expected_bits: 96,
            found_bits: 104
        })
    ));
}

#[test]
fn a_leading_zero_serial_needs_sgtin_198() {
    let epc = Epc::parse("urn:epc:id:sgtin:0614141.812345.0123").expect("valid SGTIN");
    assert!(matches!(
        EpcTag::encode(Scheme::Sgtin96, Filter::ALL_OTHERS, epc.clone()),
        Err(EncodeError::LeadingZero { .. })
    ));
    let shortest = EpcTag::encode_shortest(Filter::ALL_OTHERS, epc).expect("fits SGTIN-198");
    assert_eq!(shortest.scheme(), Scheme::Sgtin198);
}

#[test]
fn an_sscc_cannot_be_encoded_as_sgtin() {
    let epc = Epc::parse("urn:epc:id:sscc:952012.03456789123").expect("valid SSCC");
    assert_eq!(
        EpcTag::encode(Scheme::Sgtin198, Filter::ALL_OTHERS, epc).err(),
        Some(EncodeError::SchemeMismatch {
            scheme: "sgtin-198",
            epc_scheme: "sscc"
        })
    );
}

#[test]
fn a_tag_uri_with_filter_eight_is_rejected() {
    assert!(matches!(
        EpcTag::parse_tag_uri("urn:epc:tag:sgtin-96:8.0614141.812345.6789"),
        Err(TagUriError::Filter { .. })
    ));
}

#[test]
fn a_tag_uri_of_an_unsupported_scheme_is_named() {
    assert_eq!(
        EpcTag::parse_tag_uri("urn:epc:tag:usdod-96:3.CAGEY.5678").err(),
        Some(TagUriError::UnknownScheme {
            scheme: "usdod-96".into()
        })
    );
}

#[test]
fn a_7_bit_control_character_is_rejected() {
    // The SGTIN-198 example with its first serial character '3' (0x33) replaced by 0x01.
    let mut bits = epcis_bits(VECTORS[2].0);
    // Serial starts at bit 8 + 3 + 3 + 44 = 58.
    set_bits(&mut bits, 58, 7, 0x01);
    let hex = to_hex(&bits);
    assert!(matches!(
        EpcTag::from_hex(&hex),
        Err(DecodeError::Character { code: 0x01, .. })
    ));
}

#[test]
fn bits_after_the_string_terminator_are_rejected() {
    let mut bits = epcis_bits(VECTORS[2].0);
    // "32a/b" is 5 characters; set a bit in the 7th character slot.
    set_bits(&mut bits, 58 + 6 * 7, 7, 0x41);
    assert!(matches!(
        EpcTag::from_hex(&to_hex(&bits)),
        Err(DecodeError::AfterTerminator { .. })
    ));
}

#[test]
fn reserved_bits_of_sscc_96_must_be_zero() {
    assert!(matches!(
        EpcTag::from_hex("311BA1B300CE0A6A83000001"),
        Err(DecodeError::Reserved { .. })
    ));
}

fn epcis_bits(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn set_bits(bytes: &mut [u8], start: usize, count: usize, value: u32) {
    for i in 0..count {
        let bit = (value >> (count - 1 - i)) & 1;
        let position = start + i;
        let mask = 1 << (7 - position % 8);
        if bit == 1 {
            bytes[position / 8] |= mask;
        } else {
            bytes[position / 8] &= !mask;
        }
    }
}

#[test]
fn from_uri_encodes_a_pure_identity_with_scheme_and_filter() {
    let tag = EpcTag::from_uri(
        "urn:epc:id:sgtin:0614141.812345.6789",
        Some(Scheme::Sgtin96),
        Filter::new(3).ok(),
    );
    assert_eq!(
        tag.map(|t| t.to_hex()).as_deref(),
        Ok("3074257BF7194E4000001A85")
    );
}

#[test]
fn from_uri_encodes_a_tag_uri_as_written() {
    let tag = EpcTag::from_uri("urn:epc:tag:sgtin-96:3.0614141.812345.6789", None, None);
    assert_eq!(
        tag.map(|t| t.to_hex()).as_deref(),
        Ok("3074257BF7194E4000001A85")
    );
}

#[test]
fn from_uri_refuses_a_scheme_that_contradicts_the_tag_uri() {
    assert!(matches!(
        EpcTag::from_uri(
            "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
            Some(Scheme::Sgtin198),
            None
        ),
        Err(TagUriError::Conflict { what: "scheme", .. })
    ));
    assert!(matches!(
        EpcTag::from_uri(
            "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
            None,
            Filter::new(1).ok()
        ),
        Err(TagUriError::Conflict { what: "filter", .. })
    ));
}
