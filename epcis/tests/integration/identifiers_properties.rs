//! Property tests: every binary scheme round-trips in every partition, identities round-trip
//! through their URIs and Digital Links, and no parser or decoder panics on arbitrary input.

// Tests may panic on a broken expectation; that is how they fail.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use epcis::digital_link::{
    DigitalLink, digital_link_to_urn, epc_to_digital_link, urn_to_digital_link,
};
use epcis::epc::{Epc, EpcUri, Gdti, Giai, Gid, Grai, Gsrn, Sgcn, Sgln, Sgtin, Sscc};
use epcis::tds::{EpcTag, Filter, Scheme, Sgtin96};
use proptest::prelude::*;

/// GS1 AI encodable character set 82.
const CS82: &str =
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

fn digits(count: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0_u8..10, count)
        .prop_map(|v| v.into_iter().map(|d| char::from(b'0' + d)).collect())
}

fn cs82(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(CS82.as_bytes().to_vec()),
        min..=max,
    )
    .prop_map(|v| v.into_iter().map(char::from).collect())
}

fn below(bits: u32) -> impl Strategy<Value = u64> {
    0..(1_u64 << bits)
}

/// GIAI-96 asset reference bits per company prefix length 12 down to 6.
fn giai96_bits(cpl: usize) -> u32 {
    [42, 45, 48, 52, 55, 58, 62][12 - cpl]
}

fn must<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("generated a value the standard allows, but: {e}"))
}

/// A scheme and an identity it can encode, with the company prefix length spread over 6..=12
/// (every partition value).
fn encodable() -> impl Strategy<Value = (Scheme, Epc)> {
    let cpl = || 6_usize..=12;
    prop_oneof![
        cpl()
            .prop_flat_map(|n| (digits(n), digits(13 - n), below(38)))
            .prop_map(|(cp, item, s)| (
                Scheme::Sgtin96,
                Epc::Sgtin(must(Sgtin::new(&cp, &item, &s.to_string())))
            )),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(13 - n), cs82(1, 20)))
            .prop_map(|(cp, item, s)| (
                Scheme::Sgtin198,
                Epc::Sgtin(must(Sgtin::new(&cp, &item, &s)))
            )),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(17 - n)))
            .prop_map(|(cp, r)| (Scheme::Sscc96, Epc::Sscc(must(Sscc::new(&cp, &r))))),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(12 - n), below(41)))
            .prop_map(|(cp, l, e)| (
                Scheme::Sgln96,
                Epc::Sgln(must(Sgln::new(&cp, &l, &e.to_string())))
            )),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(12 - n), cs82(1, 20)))
            .prop_map(|(cp, l, e)| (Scheme::Sgln195, Epc::Sgln(must(Sgln::new(&cp, &l, &e))))),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(12 - n), below(38)))
            .prop_map(|(cp, a, s)| (
                Scheme::Grai96,
                Epc::Grai(must(Grai::new(&cp, &a, &s.to_string())))
            )),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(12 - n), cs82(1, 16)))
            .prop_map(|(cp, a, s)| (Scheme::Grai170, Epc::Grai(must(Grai::new(&cp, &a, &s))))),
        cpl()
            .prop_flat_map(|n| (digits(n), below(giai96_bits(n))))
            .prop_map(|(cp, r)| (
                Scheme::Giai96,
                Epc::Giai(must(Giai::new(&cp, &r.to_string())))
            )),
        cpl()
            .prop_flat_map(|n| (digits(n), cs82(1, 30 - n)))
            .prop_map(|(cp, r)| (Scheme::Giai202, Epc::Giai(must(Giai::new(&cp, &r))))),
        (below(28), below(24), below(36)).prop_map(|(m, c, s)| (
            Scheme::Gid96,
            Epc::Gid(must(Gid::new(m as u32, c as u32, s)))
        )),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(17 - n)))
            .prop_map(|(cp, r)| (Scheme::Gsrn96, Epc::Gsrn(must(Gsrn::new(&cp, &r))))),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(17 - n)))
            .prop_map(|(cp, r)| (Scheme::Gsrnp96, Epc::Gsrnp(must(Gsrn::new(&cp, &r))))),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(12 - n), below(41)))
            .prop_map(|(cp, d, s)| (
                Scheme::Gdti96,
                Epc::Gdti(must(Gdti::new(&cp, &d, &s.to_string())))
            )),
        cpl()
            .prop_flat_map(|n| (digits(n), digits(12 - n), cs82(1, 17)))
            .prop_map(|(cp, d, s)| (Scheme::Gdti174, Epc::Gdti(must(Gdti::new(&cp, &d, &s))))),
        cpl()
            .prop_flat_map(|n| (
                digits(n),
                digits(12 - n),
                (1_usize..=12).prop_flat_map(digits)
            ))
            .prop_map(|(cp, c, s)| (Scheme::Sgcn96, Epc::Sgcn(must(Sgcn::new(&cp, &c, &s))))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_scheme_round_trips_through_binary((scheme, epc) in encodable(), filter in 0_u32..8) {
        let filter = Filter::new(filter).expect("0 to 7");
        let tag = EpcTag::encode(scheme, filter, epc.clone()).expect("a generated identity fits its scheme");
        let hex = tag.to_hex();
        prop_assert_eq!(hex.len(), scheme.bits().div_ceil(16) * 4);
        let back = EpcTag::from_hex(&hex).expect("an encoding decodes");
        prop_assert_eq!(back.scheme(), scheme);
        prop_assert_eq!(back.epc(), &epc);
        prop_assert_eq!(back.filter(), scheme.has_filter().then_some(filter));
        prop_assert_eq!(back.to_hex(), hex);
        let from_uri = EpcTag::parse_tag_uri(&tag.tag_uri()).expect("a tag URI parses");
        prop_assert_eq!(from_uri, tag);
    }

    #[test]
    fn every_identity_round_trips_through_its_uri((_, epc) in encodable()) {
        let uri = epc.to_string();
        prop_assert_eq!(Epc::parse(&uri), Ok(epc));
    }

    #[test]
    fn gs1_keyed_identities_round_trip_through_digital_link((_, epc) in encodable()) {
        prop_assume!(!matches!(epc, Epc::Gid(_)));
        let urn = epc.to_string();
        let link = epc_to_digital_link(&epc).expect("a GS1 key has a Digital Link");
        prop_assert_eq!(urn_to_digital_link(&urn), Ok(link.clone()));
        let body = urn.splitn(5, ':').nth(4).unwrap_or_default();
        let company_prefix_len = body.split('.').next().map_or(0, str::len);
        prop_assert_eq!(digital_link_to_urn(&link, company_prefix_len), Ok(urn));
    }

    #[test]
    fn the_fast_sgtin_96_decoder_agrees_with_the_general_one(bits in any::<u128>()) {
        let bits = (bits & ((1_u128 << 88) - 1)) | (0x30 << 88);
        let hex = format!("{bits:024X}");
        let fast = Sgtin96::from_hex(&hex);
        let general = EpcTag::from_hex(&hex);
        prop_assert_eq!(fast.is_ok(), general.is_ok());
        if let (Ok(fast), Ok(general)) = (fast, general) {
            prop_assert_eq!(fast.tag_uri(), general.tag_uri());
            prop_assert_eq!(fast.to_hex(), general.to_hex());
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        header in prop_oneof![any::<u8>(), proptest::sample::select(Scheme::ALL.iter().map(|s| s.header()).collect::<Vec<_>>())],
        rest in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut bytes = vec![header];
        bytes.extend(rest);
        let _ = EpcTag::from_bytes(&bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let _ = EpcTag::from_hex(&hex);
        let _ = EpcTag::from_hex(&hex[..hex.len() - 1]);
        if let Ok(twelve) = <[u8; 12]>::try_from(&bytes[..bytes.len().min(12)]) {
            let _ = Sgtin96::from_bytes(&twelve);
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let _ = EpcTag::from_hex(&text);
        let _ = Sgtin96::from_hex(&text);
        let _ = EpcTag::parse_tag_uri(&text);
        let _ = Epc::parse(&text);
        let _ = EpcUri::parse(&text);
        let _ = DigitalLink::parse(&text);
        let _ = urn_to_digital_link(&text);
        let _ = digital_link_to_urn(&text, 7);
    }

    #[test]
    fn parsing_uri_shaped_text_never_panics(
        kind in proptest::sample::select(vec![
            "urn:epc:id:sgtin:", "urn:epc:id:sgln:", "urn:epc:id:cpi:", "urn:epc:id:gid:", "urn:epc:id:giai:",
            "urn:epc:class:lgtin:", "urn:epc:idpat:sgtin:", "urn:epc:idpat:itip:", "urn:epc:tag:sgtin-96:",
            "urn:epc:tag:giai-202:", "urn:epc:tag:gid-96:",
        ]),
        body in "[0-9.%A-Fa-z*/#]{0,40}",
    ) {
        let text = format!("{kind}{body}");
        let _ = EpcUri::parse(&text);
        let _ = EpcTag::parse_tag_uri(&text);
        let _ = urn_to_digital_link(&text);
    }

    #[test]
    fn parsing_digital_link_shaped_text_never_panics(
        segments in proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(vec![
                    "01", "00", "414", "417", "8003", "8004", "8006", "8010", "8011", "8017", "8018", "8019",
                    "253", "255", "401", "402", "22", "10", "21", "235", "254", "gtin", "lot", "ser", "17", "3103",
                ]).prop_map(str::to_owned),
                "[0-9]{0,20}",
                "[!-~]{0,12}",
            ],
            0..8,
        ),
        query in "[0-9a-zA-Z=&%+:]{0,30}",
        cpl in 0_usize..15,
    ) {
        let uri = format!("https://example.com/{}?{query}", segments.join("/"));
        if let Ok(link) = DigitalLink::parse(&uri) {
            let _ = link.canonical();
            let _ = link.to_string();
            let _ = link.to_epc_uri(cpl);
        }
    }
}

#[test]
fn every_partition_of_every_partitioned_scheme_encodes_its_extremes() {
    for cpl in 6..=12 {
        for fill in ['0', '9'] {
            let cp: String = std::iter::repeat_n(fill, cpl).collect();
            let item: String = std::iter::repeat_n(fill, 13 - cpl).collect();
            let seventeen: String = std::iter::repeat_n(fill, 17 - cpl).collect();
            let twelve: String = std::iter::repeat_n(fill, 12 - cpl).collect();
            let cases = [
                (
                    Scheme::Sgtin96,
                    Epc::Sgtin(must(Sgtin::new(&cp, &item, "274877906943"))),
                ),
                (
                    Scheme::Sgtin198,
                    Epc::Sgtin(must(Sgtin::new(&cp, &item, "zzzzzzzzzzzzzzzzzzzz"))),
                ),
                (Scheme::Sscc96, Epc::Sscc(must(Sscc::new(&cp, &seventeen)))),
                (
                    Scheme::Sgln96,
                    Epc::Sgln(must(Sgln::new(&cp, &twelve, "2199023255551"))),
                ),
                (
                    Scheme::Sgln195,
                    Epc::Sgln(must(Sgln::new(&cp, &twelve, "zzzzzzzzzzzzzzzzzzzz"))),
                ),
                (
                    Scheme::Grai96,
                    Epc::Grai(must(Grai::new(&cp, &twelve, "274877906943"))),
                ),
                (
                    Scheme::Grai170,
                    Epc::Grai(must(Grai::new(&cp, &twelve, "zzzzzzzzzzzzzzzz"))),
                ),
                (
                    Scheme::Giai96,
                    Epc::Giai(must(Giai::new(
                        &cp,
                        &((1_u64 << giai96_bits(cpl)) - 1).to_string(),
                    ))),
                ),
                (
                    Scheme::Giai202,
                    Epc::Giai(must(Giai::new(&cp, &"z".repeat(30 - cpl)))),
                ),
                (Scheme::Gsrn96, Epc::Gsrn(must(Gsrn::new(&cp, &seventeen)))),
                (
                    Scheme::Gdti174,
                    Epc::Gdti(must(Gdti::new(&cp, &twelve, "zzzzzzzzzzzzzzzzz"))),
                ),
                (
                    Scheme::Sgcn96,
                    Epc::Sgcn(must(Sgcn::new(&cp, &twelve, "999999999999"))),
                ),
            ];
            for (scheme, epc) in cases {
                let tag = EpcTag::encode(scheme, Filter::ALL_OTHERS, epc.clone())
                    .unwrap_or_else(|e| panic!("{scheme} {epc}: {e}"));
                let back = EpcTag::from_hex(&tag.to_hex())
                    .unwrap_or_else(|e| panic!("{scheme} {epc}: {e}"));
                assert_eq!(back.epc(), &epc, "{scheme}");
            }
        }
    }
}

#[test]
fn a_numeric_field_one_past_its_bits_does_not_encode() {
    let cases = [
        (
            Scheme::Sgtin96,
            Epc::Sgtin(must(Sgtin::new("0614141", "812345", "274877906944"))),
        ),
        (
            Scheme::Sgln96,
            Epc::Sgln(must(Sgln::new("0614141", "12345", "2199023255552"))),
        ),
        (
            Scheme::Giai96,
            Epc::Giai(must(Giai::new("0614141", "288230376151711744"))),
        ),
    ];
    for (scheme, epc) in cases {
        assert!(
            EpcTag::encode(scheme, Filter::ALL_OTHERS, epc).is_err(),
            "{scheme}"
        );
    }
}
