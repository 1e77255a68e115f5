//! Known answers from NXP AN12196 and AN10922 (`testdata/nfc/README.md`), and the refusals.

use super::*;

fn bytes<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    assert!(decode_hex(text, &mut out), "{text} is {N} bytes of hex");
    out
}

fn zero_key() -> SunKey {
    SunKey::from_bytes([0; KEY_LEN])
}

fn version(number: u16, seed: u8) -> KeyVersion {
    KeyVersion {
        version: number,
        meta_read: SunKey::from_bytes([seed; KEY_LEN]),
        file_read_master: SunKey::from_bytes([seed.wrapping_add(1); KEY_LEN]),
    }
}

fn keys(versions: Vec<KeyVersion>) -> Keys {
    Keys::new(versions).unwrap()
}

const UID: Uid = Uid([0x04, 0xDE, 0x5F, 0x1E, 0xAC, 0xC0, 0x40]);

#[test]
fn an12196_picc_data_decrypts_to_its_uid_and_counter() {
    let picc = decrypt(&zero_key(), &bytes("EF963FF7828658A599F3041510671E88")).unwrap();
    assert_eq!(picc.uid, UID);
    assert_eq!(picc.counter, 61);
}

#[test]
fn an12196_sun_mac_is_reproduced() {
    assert_eq!(
        sun_mac(&zero_key(), UID, 61),
        bytes::<MAC_LEN>("94EED9EE65337086")
    );
}

#[test]
fn an12196_tap_verifies_with_factory_keys_and_its_url_parses() {
    let sun = Sun::from_query("e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086")
        .unwrap()
        .unwrap();
    // Factory keys: the file-read key is the zero key itself, not diversified.
    let picc = decrypt(&zero_key(), &sun.picc).unwrap();
    assert_eq!(sun_mac(&zero_key(), picc.uid, picc.counter), sun.mac);
}

#[test]
fn an10922_published_aes128_diversification() {
    let master = SunKey::from_bytes(bytes("00112233445566778899AABBCCDDEEFF"));
    // UID || AID || system identifier ("NXP Abu").
    let input: [u8; 17] = bytes("04782E21801D803042F54E585020416275");
    assert_eq!(
        diversify(&master, &input).unwrap().as_bytes(),
        &bytes::<KEY_LEN>("A8DD63A3B89D54B37CA802473FDA9175")
    );
}

#[test]
fn an10922_with_31_bytes_is_a_plain_cmac_and_shorter_inputs_are_not() {
    let master = SunKey::from_bytes(bytes("00112233445566778899AABBCCDDEEFF"));
    let long = [0xA5u8; 31];
    let mut message = vec![0x01];
    message.extend_from_slice(&long);
    assert_eq!(
        diversify(&master, &long).unwrap().as_bytes(),
        &*master.cmac(&message)
    );
    let short = [0xA5u8; 15];
    let mut message = vec![0x01];
    message.extend_from_slice(&short);
    assert_ne!(
        diversify(&master, &short).unwrap().as_bytes(),
        &*master.cmac(&message),
        "AN10922 pads to two blocks; a plain CMAC pads to one"
    );
    assert!(diversify(&master, &[]).is_none());
    assert!(diversify(&master, &[0; 32]).is_none());
}

#[test]
fn a_tap_made_under_a_version_verifies_under_it_alone() {
    let keys = keys(vec![version(1, 0x10), version(2, 0x20)]);
    let v1 = keys.version(1).unwrap();
    let sun = v1.tap(UID, 5, [1, 2, 3, 4, 5]);
    assert_eq!(
        keys.verify(&sun),
        Ok(Tap {
            uid: UID,
            counter: 5,
            version: 1
        })
    );
    let only_v2 = super::Keys::new(vec![version(2, 0x20)]).unwrap();
    assert!(only_v2.verify(&sun).is_err());
    assert_eq!(keys.newest().version, 2);
}

#[test]
fn an_altered_mac_counter_uid_or_picc_data_is_refused() {
    let keys = keys(vec![version(1, 0x10)]);
    let v1 = keys.version(1).unwrap();
    let sun = v1.tap(UID, 7, [9; 5]);

    let mut mac = sun.clone();
    mac.mac[3] ^= 0x01;
    assert_eq!(keys.verify(&mac), Err(Refusal::BadMac));

    // The PICC data of another counter (or another UID) with this tap's MAC.
    let other_counter = Sun {
        mac: sun.mac,
        ..v1.tap(UID, 8, [9; 5])
    };
    assert_eq!(keys.verify(&other_counter), Err(Refusal::BadMac));
    let mut other_uid = UID;
    other_uid.0[6] ^= 0x01;
    let other_uid = Sun {
        mac: sun.mac,
        ..v1.tap(other_uid, 7, [9; 5])
    };
    assert_eq!(keys.verify(&other_uid), Err(Refusal::BadMac));

    // A flipped bit of the encrypted block scrambles it all: its tag byte is gone (or, one time
    // in 256, the MAC fails instead).
    let mut picc = sun.clone();
    picc.picc[15] ^= 0x80;
    assert!(matches!(
        keys.verify(&picc),
        Err(Refusal::NotOurs | Refusal::BadMac)
    ));
    // Another deployment's tag.
    let theirs = version(1, 0x77).tap(UID, 7, [9; 5]);
    assert!(keys.verify(&theirs).is_err());
}

#[test]
fn the_counter_is_24_bits_least_significant_byte_first() {
    let v = version(1, 0x10);
    let sun = v.tap(UID, MAX_COUNTER, [0; 5]);
    let picc = decrypt(&v.meta_read, &sun.picc).unwrap();
    assert_eq!(picc.counter, MAX_COUNTER);
    let sun = v.tap(UID, 0x01_02_03, [0; 5]);
    let mut block = Array::from(sun.picc);
    v.meta_read.cipher().decrypt_block(&mut block);
    assert_eq!(&block[8..11], &[0x03, 0x02, 0x01]);
}

#[test]
fn both_url_forms_parse_and_print() {
    let sun = version(1, 0x10).tap(UID, 3, [0; 5]);
    for form in [Form::Named, Form::Short] {
        let query = format!("linkType=gs1%3AverificationService&{}", sun.query(form));
        assert_eq!(Sun::from_query(&query), Ok(Some(sun.clone())));
    }
    let lower = sun.query(Form::Short).to_lowercase();
    assert_eq!(Sun::from_query(&lower), Ok(Some(sun.clone())));
    assert_eq!(Sun::from_query(""), Ok(None));
    assert_eq!(Sun::from_query("linkType=all&lang=en"), Ok(None));
}

#[test]
fn malformed_tap_parameters_are_refused_by_name() {
    let e = "EF963FF7828658A599F3041510671E88";
    let c = "94EED9EE65337086";
    assert_eq!(
        Sun::from_query(&format!("e={e}")),
        Err(SunError::Incomplete {
            present: "e",
            missing: "c"
        })
    );
    assert_eq!(
        Sun::from_query(&format!("cmac={c}")),
        Err(SunError::Incomplete {
            present: "cmac",
            missing: "picc_data"
        })
    );
    assert_eq!(
        Sun::from_query(&format!("e={e}&c={c}&c={c}")),
        Err(SunError::Repeated("c"))
    );
    assert_eq!(
        Sun::from_query(&format!("e={e}&picc_data={e}&c={c}")),
        Err(SunError::Repeated("picc_data"))
    );
    for bad in [
        &e[1..],
        "ZZ963FF7828658A599F3041510671E88",
        "",
        "+F963FF7828658A599F3041510671E8",
    ] {
        assert_eq!(
            Sun::from_query(&format!("e={bad}&c={c}")),
            Err(SunError::Malformed {
                name: "e",
                digits: 32
            }),
            "{bad}"
        );
    }
    assert_eq!(
        Sun::from_query(&format!("picc_data={e}&cmac={c}00")),
        Err(SunError::Malformed {
            name: "cmac",
            digits: 16
        })
    );
}

#[test]
fn key_files_round_trip_and_bad_ones_are_refused_without_their_keys() {
    let keys = keys(vec![version(1, 0x10), version(3, 0x30)]);
    let text = keys.file_text();
    let again = Keys::parse(&text).unwrap();
    assert_eq!(again.versions().len(), 2);
    let sun = keys.version(3).unwrap().tap(UID, 1, [0; 5]);
    assert_eq!(again.verify(&sun).unwrap().version, 3);

    let secret = "1111111111111111111111111111111A";
    let with =
        |versions: &str| format!(r#"{{"algorithm": "ntag424-sun", "versions": [{versions}]}}"#);
    let one = |v: u16, meta: &str, master: &str| {
        format!(r#"{{"version": {v}, "meta_read": "{meta}", "file_read_master": "{master}"}}"#)
    };
    let other = "22222222222222222222222222222222";
    let third = "33333333333333333333333333333333";
    let cases = [
        (with(""), "no key version"),
        (
            with(&format!(
                "{},{}",
                one(1, secret, other),
                one(1, third, "44444444444444444444444444444444")
            )),
            "version 1 is given twice",
        ),
        (
            with(&format!(
                "{},{}",
                one(1, secret, other),
                one(2, third, secret)
            )),
            "used twice",
        ),
        (with(&one(1, secret, secret)), "used twice"),
        (with(&one(1, &secret[1..], other)), "meta_read of version 1"),
        (with(&one(1, other, "zz")), "file_read_master of version 1"),
        (
            format!(
                r#"{{"algorithm": "aes", "versions": [{}]}}"#,
                one(1, secret, other)
            ),
            "algorithm",
        ),
        (
            format!(
                "{{\"algorithm\": \"ntag424-sun\", \"versions\": [{}",
                one(1, secret, other)
            ),
            "JSON",
        ),
    ];
    for (text, why) in cases {
        let error = Keys::parse(&text).unwrap_err().to_string();
        assert!(error.contains(why), "{error} (expected {why})");
        assert!(
            !error.contains(secret) && !error.contains(&secret[1..]),
            "{error}"
        );
    }
}

#[test]
fn keys_are_not_shown_by_debug() {
    let keys = keys(vec![version(1, 0xAB)]);
    let shown = format!("{keys:?}");
    assert!(
        !shown.contains("171") && !shown.to_uppercase().contains("ABAB"),
        "{shown}"
    );
    assert_eq!(format!("{UID}"), "04DE5F1EACC040");
    assert_eq!(Uid::parse("04de5f1eacc040"), Some(UID));
    assert_eq!(Uid::parse("04DE5F1EACC0"), None);
}
