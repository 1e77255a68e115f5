use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::*;

/// A reproducible byte stream: SHA-256("tagtrail test random" || counter, 8 bytes big-endian)
/// for counter 0, 1, ..., concatenated; each call takes the next bytes.
fn stream() -> impl FnMut(&mut [u8]) {
    let mut buffer: Vec<u8> = Vec::new();
    let mut counter = 0u64;
    move |dst: &mut [u8]| {
        while buffer.len() < dst.len() {
            let mut hasher = Sha256::new();
            hasher.update(b"tagtrail test random");
            hasher.update(counter.to_be_bytes());
            buffer.extend_from_slice(&hasher.finalize());
            counter += 1;
        }
        dst.copy_from_slice(&buffer[..dst.len()]);
        buffer.drain(..dst.len());
    }
}

fn hex(bytes: &[u8]) -> String {
    crate::encoding::hex_encode(bytes)
}

fn recipient(random: Random<'_>) -> RecipientSecret {
    RecipientSecret::generate(random)
}

const ADDRESS: &[u8] =
    br#"{"street":"1 Rue de la Paix","city":"Paris","phone":"+33 1 23 45 67 89"}"#;

#[test]
fn a_recipient_opens_what_was_sealed_for_it_and_the_commitment_holds() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    let brand = recipient(&mut random);
    let mut sealer = Sealer::new(&[carrier.public_key(), brand.public_key()], &mut random).unwrap();
    let field = sealer.seal(ADDRESS, &mut random).unwrap();
    assert!(field.is_encrypted());
    let keys = sealer.key_set();
    assert_eq!(keys.envelopes().len(), 2);
    assert_eq!(keys.field_keys().len(), 1);
    for secret in [&carrier, &brand] {
        let envelope = keys
            .envelopes()
            .iter()
            .find(|e| e.recipient() == secret.public_key())
            .unwrap();
        let opening = open(&field, &keys.field_keys()[0], envelope, secret).unwrap();
        assert_eq!(opening.value(), ADDRESS);
        assert!(opening.opens(&field));
    }
    // The ciphertext does not hold the value in clear.
    let encoded = field.encode();
    assert!(!encoded.windows(5).any(|w| w == b"Paris"));
}

#[test]
fn opening_refuses_every_wrong_key_and_every_changed_byte() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    let stranger = recipient(&mut random);
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    let field = sealer.seal(ADDRESS, &mut random).unwrap();
    let other = sealer.seal(b"\"another value\"", &mut random).unwrap();
    let keys = sealer.key_set();
    let envelope = &keys.envelopes()[0];
    let key = &keys.field_keys()[0];

    assert_eq!(
        open(&field, key, envelope, &stranger).unwrap_err(),
        OpenError::OtherRecipient
    );
    // The stranger relabels the envelope as its own: HPKE does not open.
    let relabelled = Envelope::from_parts(stranger.public_key(), envelope.sealed_key()).unwrap();
    assert_eq!(
        open(&field, key, &relabelled, &stranger).unwrap_err(),
        OpenError::Envelope
    );
    assert_eq!(
        open(&field, &keys.field_keys()[1], envelope, &carrier).unwrap_err(),
        OpenError::OtherField
    );
    let mut sealed_key = envelope.sealed_key().to_vec();
    sealed_key[40] ^= 1;
    let tampered = Envelope::from_parts(carrier.public_key(), &sealed_key).unwrap();
    assert_eq!(
        open(&field, key, &tampered, &carrier).unwrap_err(),
        OpenError::Envelope
    );
    let mut wrapped = key.wrapped().to_vec();
    wrapped[0] ^= 1;
    let tampered = FieldKey::from_parts(*key.commitment(), &wrapped).unwrap();
    assert_eq!(
        open(&field, &tampered, envelope, &carrier).unwrap_err(),
        OpenError::FieldKey
    );
    let mut bytes = field.encode();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered = SealedField::decode(&bytes).unwrap();
    assert_eq!(
        open(&tampered, key, envelope, &carrier).unwrap_err(),
        OpenError::Ciphertext
    );
    // A field key moved to another field's commitment unwraps under another key: refused.
    let moved = FieldKey::from_parts(*other.commitment(), key.wrapped()).unwrap();
    assert_eq!(
        open(&other, &moved, envelope, &carrier).unwrap_err(),
        OpenError::FieldKey
    );
    let (committed, _) = commit(ADDRESS, &mut random).unwrap();
    assert_eq!(
        open(&committed, key, envelope, &carrier).unwrap_err(),
        OpenError::NotEncrypted
    );
}

#[test]
fn a_commitment_opens_with_its_salt_only() {
    let mut random = stream();
    let (field, opening) = commit(ADDRESS, &mut random).unwrap();
    assert!(!field.is_encrypted());
    assert!(opening.opens(&field));
    // The same value under another salt: a guess of the value alone confirms nothing.
    let (again, _) = commit(ADDRESS, &mut random).unwrap();
    assert_ne!(field.commitment(), again.commitment());
    let guess = Opening::new([0; SALT_LEN], ADDRESS.to_vec());
    assert!(!guess.opens(&field));
    assert_eq!(format!("{opening:?}"), "Opening(..)");
}

#[test]
fn sealing_refuses_what_it_cannot_do() {
    let mut random = stream();
    assert_eq!(
        Sealer::new(&[], &mut random).unwrap_err(),
        SealError::NoRecipients
    );
    let key = recipient(&mut random).public_key();
    assert!(matches!(
        Sealer::new(&[key, key], &mut random).unwrap_err(),
        SealError::DuplicateRecipient(_)
    ));
    let many: Vec<RecipientKey> = (0..17)
        .map(|_| recipient(&mut random).public_key())
        .collect();
    assert_eq!(
        Sealer::new(&many, &mut random).unwrap_err(),
        SealError::TooManyRecipients(17)
    );
    let mut sealer = Sealer::new(&[key], &mut random).unwrap();
    let long = vec![b'1'; MAX_VALUE_LEN + 1];
    assert_eq!(
        sealer.seal(&long, &mut random).unwrap_err(),
        SealError::ValueTooLong(MAX_VALUE_LEN + 1)
    );
    assert_eq!(
        commit(&long, &mut random).unwrap_err(),
        SealError::ValueTooLong(MAX_VALUE_LEN + 1)
    );
    assert!(sealer.is_empty());
}

#[test]
fn a_sealed_value_reads_back_and_every_malformed_one_is_named() {
    let mut random = stream();
    let key = recipient(&mut random).public_key();
    let mut sealer = Sealer::new(&[key], &mut random).unwrap();
    let encrypted = sealer.seal(ADDRESS, &mut random).unwrap();
    let (committed, _) = commit(ADDRESS, &mut random).unwrap();
    for field in [&encrypted, &committed] {
        assert_eq!(&SealedField::decode(&field.encode()).unwrap(), field);
        assert_eq!(
            &SealedField::from_json(&field.to_json()).unwrap().unwrap(),
            field
        );
    }
    let bytes = committed.encode();
    use SealedFormatError as E;
    assert_eq!(
        SealedField::decode(&[]).unwrap_err(),
        E::Truncated("version")
    );
    assert_eq!(SealedField::decode(&[2]).unwrap_err(), E::Version(2));
    assert_eq!(SealedField::decode(&[1]).unwrap_err(), E::Truncated("form"));
    assert_eq!(
        SealedField::decode(&bytes[..20]).unwrap_err(),
        E::Truncated("commitment")
    );
    let mut other_form = bytes.clone();
    other_form[1] = 7;
    assert_eq!(SealedField::decode(&other_form).unwrap_err(), E::Form(7));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        SealedField::decode(&trailing).unwrap_err(),
        E::TrailingBytes(1)
    );
    // Form 1 (unpadded, as written before padding): a salt and a tag at least, the longest
    // value at most.
    let mut unpadded = encrypted.encode();
    unpadded[1] = FORM_ENCRYPTED;
    let short = &unpadded[..HEADER_LEN + SALT_LEN + TAG_LEN - 1];
    assert_eq!(
        SealedField::decode(short).unwrap_err(),
        E::CiphertextTooShort(SALT_LEN + TAG_LEN - 1)
    );
    let mut long = unpadded[..HEADER_LEN].to_vec();
    long.resize(HEADER_LEN + SALT_LEN + MAX_VALUE_LEN + TAG_LEN + 1, 0);
    assert_eq!(
        SealedField::decode(&long).unwrap_err(),
        E::CiphertextTooLong(SALT_LEN + MAX_VALUE_LEN + TAG_LEN + 1)
    );
    // Form 2 (padded, what sealers write): a length class and a tag, the longest class at most.
    let padded = encrypted.encode();
    assert_eq!(padded[1], FORM_PADDED);
    let short = &padded[..HEADER_LEN + 64 + TAG_LEN - 1];
    assert_eq!(
        SealedField::decode(short).unwrap_err(),
        E::PaddedLength(64 + TAG_LEN - 1)
    );
    let mut long = padded[..HEADER_LEN].to_vec();
    long.resize(HEADER_LEN + 18 * 1024 + TAG_LEN, 0);
    assert_eq!(
        SealedField::decode(&long).unwrap_err(),
        E::CiphertextTooLong(18 * 1024 + TAG_LEN)
    );

    assert_eq!(SealedField::from_json(&json!("text")), None);
    assert_eq!(SealedField::from_json(&json!({"example:x": 1})), None);
    assert_eq!(
        SealedField::from_json(&json!({"sealed:field": 1})),
        Some(Err(E::NotText))
    );
    assert_eq!(
        SealedField::from_json(&json!({"sealed:field": "not base64!"})),
        Some(Err(E::Base64))
    );
    let mut extra = committed.to_json();
    extra["example:x"] = json!(1);
    assert_eq!(SealedField::from_json(&extra), Some(Err(E::OtherMembers)));
}

#[test]
fn a_key_set_reads_back_and_every_malformed_one_is_named() {
    let mut random = stream();
    let a = recipient(&mut random).public_key();
    let b = recipient(&mut random).public_key();
    let mut sealer = Sealer::new(&[a, b], &mut random).unwrap();
    sealer.seal(b"1", &mut random).unwrap();
    sealer.seal(b"2", &mut random).unwrap();
    let keys = sealer.key_set();
    let bytes = keys.encode();
    assert_eq!(
        bytes.len(),
        1 + 1 + 2 * ENVELOPE_LEN + 2 + 2 * FIELD_KEY_LEN
    );
    assert_eq!(KeySet::decode(&bytes).unwrap(), keys);
    assert_eq!(KeySet::parse_base64(&keys.to_base64()).unwrap(), keys);
    assert_eq!(keys.grant_id(), KeySet::decode(&bytes).unwrap().grant_id());

    use KeySetError as E;
    assert_eq!(KeySet::decode(&[]).unwrap_err(), E::Truncated("version"));
    assert_eq!(KeySet::decode(&[9]).unwrap_err(), E::Version(9));
    assert_eq!(KeySet::decode(&[1, 0]).unwrap_err(), E::RecipientCount(0));
    assert_eq!(KeySet::decode(&[1, 17]).unwrap_err(), E::RecipientCount(17));
    assert_eq!(
        KeySet::decode(&bytes[..20]).unwrap_err(),
        E::Truncated("recipient key")
    );
    assert_eq!(
        KeySet::decode(&bytes[..40]).unwrap_err(),
        E::Truncated("envelope")
    );
    // The second recipient's key replaced by the first's.
    let mut twice = bytes.clone();
    let (first, second) = (2, 2 + ENVELOPE_LEN);
    twice.copy_within(first..first + PUBLIC_KEY_LEN, second);
    assert!(matches!(
        KeySet::decode(&twice).unwrap_err(),
        E::DuplicateRecipient(_)
    ));
    let counts = 2 + 2 * ENVELOPE_LEN;
    let mut none = bytes[..counts + 2].to_vec();
    none[counts..].copy_from_slice(&[0, 0]);
    assert_eq!(KeySet::decode(&none).unwrap_err(), E::NoFieldKeys);
    let mut same_field = bytes.clone();
    let fields = counts + 2;
    same_field.copy_within(fields..fields + COMMITMENT_LEN, fields + FIELD_KEY_LEN);
    assert!(matches!(
        KeySet::decode(&same_field).unwrap_err(),
        E::DuplicateField(_)
    ));
    let mut trailing = bytes.clone();
    trailing.extend_from_slice(&[0; 3]);
    assert_eq!(KeySet::decode(&trailing).unwrap_err(), E::TrailingBytes(3));
    assert_eq!(
        KeySet::decode(&bytes[..bytes.len() - 1]).unwrap_err(),
        E::Truncated("wrapped field key")
    );
    assert_eq!(KeySet::parse_base64("%%").unwrap_err(), E::Base64);
}

/// The golden values below were computed by an independent implementation,
/// `ledger/golden/sealed.py` (Python's `cryptography`: X25519, HMAC-SHA-256 and
/// ChaCha20-Poly1305, with RFC 9180's labelled key schedule written out by hand), from the same
/// byte stream, so that they do not only agree with this
/// crate's own calls.
#[test]
fn sealing_has_its_golden_bytes() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    assert_eq!(hex(carrier.as_bytes()), GOLDEN_SECRET);
    assert_eq!(hex(carrier.public_key().as_bytes()), GOLDEN_PUBLIC);
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    let field = sealer.seal(ADDRESS, &mut random).unwrap();
    assert_eq!(hex(&field.encode()), GOLDEN_PADDED_FIELD);
    assert_eq!(hex(&sealer.key_set().encode()), GOLDEN_KEY_SET);
    let (committed, opening) = commit(b"\"lot 7 costs 3.10 EUR\"", &mut random).unwrap();
    assert_eq!(hex(&committed.encode()), GOLDEN_COMMITTED);
    assert_eq!(hex(opening.salt()), GOLDEN_COMMITTED_SALT);
    // And the golden bytes open.
    let keys = KeySet::decode(&sealer.key_set().encode()).unwrap();
    let opened = open(
        &field,
        &keys.field_keys()[0],
        &keys.envelopes()[0],
        &carrier,
    )
    .unwrap();
    assert_eq!(opened.value(), ADDRESS);
    // The same value sealed before padding (form 1, the same salt and keys) still opens.
    let unpadded = SealedField::decode(&epcis::hex::decode(GOLDEN_FIELD).unwrap()).unwrap();
    assert_eq!(unpadded.commitment(), field.commitment());
    let opened = open(
        &unpadded,
        &keys.field_keys()[0],
        &keys.envelopes()[0],
        &carrier,
    )
    .unwrap();
    assert_eq!(opened.value(), ADDRESS);
}

#[test]
fn a_ciphertext_tells_only_its_value_s_length_class() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    let length = |value: &[u8], sealer: &mut Sealer, random: Random<'_>| {
        sealer.seal(value, random).unwrap().encode().len()
    };
    // Salt, value and marker fill 64 bytes up to 31 bytes of value, 128 up to 95, and so on by
    // powers of two to 1,024 (991 bytes of value); beyond, a class is 1,024 bytes.
    let short = length(b"\"a\"", &mut sealer, &mut random);
    assert_eq!(short, 2 + 32 + 64 + 16);
    assert_eq!(length(&[b'1'; 31], &mut sealer, &mut random), short);
    assert_eq!(length(&[b'1'; 32], &mut sealer, &mut random), short + 64);
    assert_eq!(length(&[b'1'; 95], &mut sealer, &mut random), short + 64);
    assert_eq!(length(&[b'1'; 96], &mut sealer, &mut random), short + 192);
    assert_eq!(
        length(&[b'1'; 991], &mut sealer, &mut random),
        2 + 32 + 1024 + 16
    );
    assert_eq!(
        length(&[b'1'; 992], &mut sealer, &mut random),
        2 + 32 + 2048 + 16
    );
    let longest = length(&[b'1'; MAX_VALUE_LEN], &mut sealer, &mut random);
    assert_eq!(longest, 2 + 32 + 17 * 1024 + 16);
    // A value opens to itself, padding gone, even one whose own bytes end in zeros.
    let keys = sealer.key_set();
    let field = sealer.seal(b"ends in zero bytes\0\0", &mut random).unwrap();
    let keys_now = sealer.key_set();
    assert_eq!(keys_now.field_keys().len(), keys.field_keys().len() + 1);
    let opened = open(
        &field,
        keys_now.field_keys().last().unwrap(),
        &keys_now.envelopes()[0],
        &carrier,
    )
    .unwrap();
    assert_eq!(opened.value(), b"ends in zero bytes\0\0");
    // A padded length that is no class's is refused when read.
    let mut bytes = field.encode();
    bytes.push(0);
    assert_eq!(
        SealedField::decode(&bytes).unwrap_err(),
        SealedFormatError::PaddedLength(64 + 16 + 1)
    );
}

/// The sealer's key set with `field_key` wrapped for `commitment`, as a sealer that encrypted the
/// value itself (rightly or not) would have it.
fn wrapped_into(sealer: &mut Sealer, commitment: Commitment, field_key: &[u8; KEY_LEN]) -> KeySet {
    let wrapped = aead_seal(
        &wrap_key(&sealer.wrap_prk, &commitment),
        commitment.as_bytes(),
        field_key,
    );
    sealer.field_keys.push(FieldKey {
        commitment,
        wrapped: wrapped.try_into().unwrap(),
    });
    sealer.key_set()
}

#[test]
fn a_padded_value_without_its_marker_is_refused_when_opened() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    let salt = [3u8; SALT_LEN];
    let commitment = Commitment::of(&salt, b"\"x\"");
    let field_key = [7u8; KEY_LEN];
    // Salt, value and zero bytes to 128, no marker.
    let mut plaintext = salt.to_vec();
    plaintext.extend_from_slice(b"\"x\"");
    plaintext.resize(128, 0);
    let ciphertext = aead_seal(&field_key, &header(&commitment, FORM_PADDED), &plaintext);
    let keys = wrapped_into(&mut sealer, commitment, &field_key);
    let field = SealedField::decode(&[&header(&commitment, FORM_PADDED)[..], &ciphertext].concat())
        .unwrap();
    assert_eq!(
        open(
            &field,
            &keys.field_keys()[0],
            &keys.envelopes()[0],
            &carrier
        )
        .unwrap_err(),
        OpenError::Padding
    );
}

const GOLDEN_PADDED_FIELD: &str = "0102dac114f415695d0c1ddeed15dfbaf9824a8067901465710a1c8fd29b9936f33b167e7686e8dd7a032acf335109636ba0aa8618f3141a851bdfdd7bb41be0df58d7d448076282a9f9f67fb8235cdded9b86c78f5004ed2d32819e0fb05f88601c3bac8075e653a1943c9f85f4bd79654ca42e1cd318dc781906b35fc3523292f8ea2a65efd926cc65386896be7a26fa80009ca0982ace6814a25dc549d05a53511be9b83fa0c0e2083aa9fc6d761fbbe2";
const GOLDEN_SECRET: &str = "6024af8053461d1c219268bb2a32ee137ea550ca8fcfe78da60a7e806e871f57";
const GOLDEN_PUBLIC: &str = "c18e4ea3267a97c20934da7ca205bf3b32f862f551696d60d8301f34959baf44";
const GOLDEN_FIELD: &str = "0101dac114f415695d0c1ddeed15dfbaf9824a8067901465710a1c8fd29b9936f33b167e7686e8dd7a032acf335109636ba0aa8618f3141a851bdfdd7bb41be0df58d7d448076282a9f9f67fb8235cdded9b86c78f5004ed2d32819e0fb05f88601c3bac8075e653a1943c9f85f4bd79654ca42e1cd318dc781906b35fc3523292f8ea2a65efd926cc651d08089c3069f42714379032679fe45a";
const GOLDEN_KEY_SET: &str = "0101c18e4ea3267a97c20934da7ca205bf3b32f862f551696d60d8301f34959baf44afa84ee8a17d3192adf3d493c6737588b691d88763f3f93e3a0f1532ab3955175b8c75a50439ef8f475907e99843354ab028a3d02cd7afa0a814d10d0d6f83e7a54b7ccfab4a21385ea64f4c148bd13f0001dac114f415695d0c1ddeed15dfbaf9824a8067901465710a1c8fd29b9936f33baea7aa7adbe2d4f0c86e0a947ae6bcea835bbb94ee7f0f8492578ae965ca1ec21e47c4eaef12d4988bf53bfe7c10c9fc";
const GOLDEN_COMMITTED: &str =
    "010082df0ec4d0183672b59337c0ec4dfff0b4dfb0363201ff9ac24d5f62461affe8";
const GOLDEN_COMMITTED_SALT: &str =
    "077527baba0e3323f0e3b54c0a5f422fb6e6c6a0d495f6014e5e45a6e8bdf9f1";

fn event() -> Map<String, Value> {
    json!({
        "type": "ObjectEvent",
        "eventTime": "2026-11-24T10:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:4012345.011111.1"],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "example:delivery": {"example:address": "1 Rue de la Paix", "example:phone": "+33 1"},
        "example:price": 3.1,
        "ilmd": {"example:batchNote": "kept private"}
    })
    .as_object()
    .cloned()
    .unwrap()
}

#[test]
fn extension_fields_are_sealed_in_place_and_found_again() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    let mut sealed = event();
    let openings = seal_event_fields(
        &mut sealed,
        &["/example:delivery", "/ilmd/example:batchNote"],
        Some(&mut sealer),
        &mut random,
    )
    .unwrap();
    assert!(openings.iter().all(Option::is_none));
    let mut committed = sealed.clone();
    let openings =
        seal_event_fields(&mut committed, &["/example:price"], None, &mut random).unwrap();
    let found = sealed_fields(&committed);
    let pointers: Vec<&str> = found.iter().map(|at| at.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/example:delivery",
            "/example:price",
            "/ilmd/example:batchNote"
        ]
    );
    let price = found[1].field.as_ref().unwrap();
    assert!(openings[0].as_ref().unwrap().opens(price));
    assert_eq!(openings[0].as_ref().unwrap().value(), b"3.1");
    // The standard fields are untouched, and the sealed form holds no plaintext.
    assert_eq!(committed["bizStep"], "shipping");
    let text = serde_json::to_string(&committed).unwrap();
    assert!(!text.contains("Paix") && !text.contains("kept private"));
    let keys = sealer.key_set();
    let delivery = found[0].field.as_ref().unwrap();
    let opened = open(
        delivery,
        &keys.field_keys()[0],
        &keys.envelopes()[0],
        &carrier,
    )
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(opened.value()).unwrap(),
        event()["example:delivery"]
    );
}

#[test]
fn only_existing_extension_fields_may_be_sealed_and_nothing_changes_otherwise() {
    let mut random = stream();
    let original = event();
    for (pointer, expected) in [
        ("/bizStep", "only extension fields"),
        ("/epcList/0", "only extension fields"),
        ("/readPoint", "only extension fields"),
        ("/ilmd", "`/ilmd` itself"),
        ("example:price", "starts with `/`"),
        ("/example:x~2", "`~` must be followed"),
        ("/sealed:field", "only extension fields"),
    ] {
        let mut event = original.clone();
        let error = seal_event_fields(&mut event, &[pointer], None, &mut random).unwrap_err();
        assert!(error.to_string().contains(expected), "{pointer}: {error}");
        assert_eq!(event, original, "{pointer}");
    }
    let mut event = original.clone();
    assert!(matches!(
        seal_event_fields(
            &mut event,
            &["/example:price", "/example:nope"],
            None,
            &mut random
        ),
        Err(FieldPathError::Missing { .. })
    ));
    assert_eq!(event, original, "nothing sealed when one pointer is bad");
    assert!(matches!(
        seal_event_fields(
            &mut event,
            &["/example:delivery", "/example:delivery/example:phone"],
            None,
            &mut random
        ),
        Err(FieldPathError::Overlap { .. })
    ));
    seal_event_fields(&mut event, &["/example:price"], None, &mut random).unwrap();
    assert!(matches!(
        seal_event_fields(&mut event, &["/example:price"], None, &mut random),
        Err(FieldPathError::AlreadySealed { .. })
    ));
    // A part of an extension's value may be sealed on its own.
    seal_event_fields(
        &mut event,
        &["/example:delivery/example:phone"],
        None,
        &mut random,
    )
    .unwrap();
    assert_eq!(
        event["example:delivery"]["example:address"],
        "1 Rue de la Paix"
    );
}

#[test]
fn the_namespace_is_declared_once_and_never_redefined() {
    let mut document =
        json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]})
            .as_object()
            .cloned()
            .unwrap();
    declare_namespace(&mut document).unwrap();
    declare_namespace(&mut document).unwrap();
    assert_eq!(
        document["@context"],
        json!(["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"sealed": NAMESPACE}])
    );
    let mut single =
        json!({"@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"})
            .as_object()
            .cloned()
            .unwrap();
    declare_namespace(&mut single).unwrap();
    assert_eq!(single["@context"][1], json!({"sealed": NAMESPACE}));
    let mut taken = json!({"@context": [{"sealed": "https://example.com/other#"}]})
        .as_object()
        .cloned()
        .unwrap();
    assert_eq!(
        declare_namespace(&mut taken).unwrap_err(),
        FieldPathError::PrefixTaken
    );
}

#[test]
fn secrets_never_show_in_debug() {
    let mut random = stream();
    let secret = recipient(&mut random);
    let shown = format!("{secret:?}");
    assert!(!shown.contains(&hex(secret.as_bytes())));
    assert!(!shown.contains(&crate::encoding::base64_encode(secret.as_bytes())));
}

mod properties {
    use proptest::prelude::*;

    use super::super::{KeySet, SealedField};

    proptest! {
        #[test]
        fn whatever_decodes_encodes_to_the_same_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            if let Ok(field) = SealedField::decode(&bytes) {
                prop_assert_eq!(field.encode(), bytes.clone());
            }
            if let Ok(keys) = KeySet::decode(&bytes) {
                prop_assert_eq!(keys.encode(), bytes);
            }
        }
    }
}

#[test]
fn a_sealer_that_encrypted_another_value_than_it_committed_to_is_caught() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    // A lying sealer: the commitment is to one value, the ciphertext holds another; everything
    // else (field key, its wrapping, the envelope) is made correctly.
    let salt = [3u8; SALT_LEN];
    let commitment = Commitment::of(&salt, br#""committed""#);
    let field_key = [7u8; KEY_LEN];
    let mut plaintext = salt.to_vec();
    plaintext.extend_from_slice(br#""encrypted""#);
    let ciphertext = aead_seal(&field_key, &header(&commitment, FORM_ENCRYPTED), &plaintext);
    let keys = wrapped_into(&mut sealer, commitment, &field_key);
    let field = SealedField {
        commitment,
        ciphertext: Some(ciphertext),
        padded: false,
    };
    assert_eq!(
        open(
            &field,
            &keys.field_keys()[0],
            &keys.envelopes()[0],
            &carrier
        )
        .unwrap_err(),
        OpenError::Commitment
    );
}

/// The key stream is ChaCha20's (RFC 8439, appendix A.1, test vector 1: key and nonce zero,
/// block counter 0), continues across draws of any length, and never shows its key.
#[test]
fn the_key_stream_is_chacha20_s_and_continues_across_draws() {
    let mut zeros = |bytes: &mut [u8]| bytes.fill(0);
    let mut stream = KeyStream::new(&mut zeros);
    let mut first = [0u8; 16];
    stream.fill(&mut first);
    assert_eq!(
        crate::encoding::hex_encode(&first),
        "76b8e0ada0f13d90405d6ae55386bd28"
    );
    let mut whole = [0u8; 100];
    KeyStream::new(&mut zeros).fill(&mut whole);
    let mut pieces = [0u8; 100];
    let mut again = KeyStream::new(&mut zeros);
    again.fill(&mut pieces[..7]);
    again.fill(&mut pieces[7..71]);
    again.fill(&mut pieces[71..]);
    assert_eq!(whole, pieces);
    // A buffer that held something is overwritten, not mixed in.
    let mut dirty = [0xffu8; 16];
    KeyStream::new(&mut zeros).fill(&mut dirty);
    assert_eq!(dirty, first);
    let mut seeded = |bytes: &mut [u8]| bytes.fill(7);
    assert_eq!(
        format!("{:?}", KeyStream::new(&mut seeded)),
        "KeyStream(..)"
    );
}

#[test]
fn parts_of_one_key_set_join_and_other_key_sets_stay_apart() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    assert_eq!(sealer.key_set_since(0), None);
    sealer.seal(b"\"one\"", &mut random).unwrap();
    let first = sealer.key_set_since(0).unwrap();
    sealer.seal(b"\"two\"", &mut random).unwrap();
    let second = sealer.key_set_since(1).unwrap();
    assert_eq!(sealer.key_set_since(2), None);
    let whole = sealer.key_set();
    assert_eq!(first.field_keys().len() + second.field_keys().len(), 2);
    // Another sealer's batch key (even to the same recipient) is another key set.
    let mut other = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    other.seal(b"\"three\"", &mut random).unwrap();
    let joined = KeySet::join([
        first.clone(),
        other.key_set(),
        second.clone(),
        // A part held twice is kept once.
        second,
    ]);
    assert_eq!(joined, [whole, other.key_set()]);
    // Parts holding more field keys than one key set may (crafted: one sealer never seals more)
    // become as many key sets as they need.
    let many: Vec<KeySet> = (0..=MAX_FIELD_KEYS)
        .map(|n| {
            let mut commitment = [0u8; COMMITMENT_LEN];
            commitment[..8].copy_from_slice(&(n as u64).to_be_bytes());
            KeySet {
                envelopes: first.envelopes.clone(),
                field_keys: vec![FieldKey {
                    commitment: Commitment(commitment),
                    wrapped: [0; KEY_LEN + TAG_LEN],
                }],
            }
        })
        .collect();
    let joined = KeySet::join(many);
    assert_eq!(joined.len(), 2);
    assert_eq!(joined[0].field_keys().len(), MAX_FIELD_KEYS);
    assert_eq!(joined[1].field_keys().len(), 1);
    assert_eq!(KeySet::decode(&joined[0].encode()).unwrap(), joined[0]);
}

#[test]
fn a_recipient_grants_what_it_can_open_to_another_and_nothing_else() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    let regulator = recipient(&mut random);
    let stranger = recipient(&mut random);
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    let address = sealer.seal(ADDRESS, &mut random).unwrap();
    let phone = sealer.seal(b"\"+33 1 23 45 67 89\"", &mut random).unwrap();
    let keys = sealer.key_set();
    let envelope = &keys.envelopes()[0];
    let held = |field: &SealedField| {
        keys.field_keys()
            .iter()
            .find(|key| key.commitment() == field.commitment())
            .unwrap()
            .clone()
    };
    let (address_key, phone_key) = (held(&address), held(&phone));
    // The carrier grants the address alone to the regulator.
    let granted = grant(
        &[(&address, &address_key, envelope)],
        &carrier,
        &[regulator.public_key()],
        &mut random,
    )
    .unwrap();
    assert_eq!(granted.field_keys().len(), 1);
    assert_eq!(granted.envelopes()[0].recipient(), regulator.public_key());
    let opened = open(
        &address,
        &granted.field_keys()[0],
        &granted.envelopes()[0],
        &regulator,
    )
    .unwrap();
    assert_eq!(opened.value(), ADDRESS);
    // The grant opens nothing else, and nobody else opens it.
    assert_eq!(
        open(
            &phone,
            &granted.field_keys()[0],
            &granted.envelopes()[0],
            &regulator
        )
        .unwrap_err(),
        OpenError::OtherField
    );
    assert_eq!(
        open(
            &address,
            &granted.field_keys()[0],
            &granted.envelopes()[0],
            &stranger
        )
        .unwrap_err(),
        OpenError::OtherRecipient
    );
    // Who cannot open a value cannot grant it: the stranger, or the carrier with another
    // value's key.
    assert_eq!(
        grant(
            &[(&address, &address_key, envelope)],
            &stranger,
            &[regulator.public_key()],
            &mut random,
        )
        .unwrap_err(),
        GrantError::Open(0, OpenError::OtherRecipient)
    );
    assert_eq!(
        grant(
            &[
                (&address, &address_key, envelope),
                (&phone, &address_key, envelope)
            ],
            &carrier,
            &[regulator.public_key()],
            &mut random,
        )
        .unwrap_err(),
        GrantError::Open(1, OpenError::OtherField)
    );
    assert_eq!(
        grant(&[], &carrier, &[regulator.public_key()], &mut random).unwrap_err(),
        GrantError::Nothing
    );
    // A grant of the same value twice keeps it once; a grant to nobody is refused.
    let twice = grant(
        &[
            (&phone, &phone_key, envelope),
            (&phone, &phone_key, envelope),
        ],
        &carrier,
        &[regulator.public_key()],
        &mut random,
    )
    .unwrap();
    assert_eq!(twice.field_keys().len(), 1);
    assert_eq!(
        grant(
            &[(&phone, &phone_key, envelope)],
            &carrier,
            &[],
            &mut random
        )
        .unwrap_err(),
        GrantError::Seal(SealError::NoRecipients)
    );
}

/// A decoy answers a recipient a value is not sealed to: the value's own field key and an
/// envelope of a real one's length whose encapsulated key is a point of the curve (a public key
/// HPKE accepts), the same for the same question and secret and different for another recipient,
/// value or secret; the stranger's key does not open it (`Envelope`: "not sealed to this key"),
/// and nor does any recipient's.
#[test]
fn a_decoy_looks_like_an_envelope_and_opens_for_nobody() {
    let mut random = stream();
    let carrier = recipient(&mut random);
    let stranger = recipient(&mut random);
    let mut sealer = Sealer::new(&[carrier.public_key()], &mut random).unwrap();
    let field = sealer.seal(ADDRESS, &mut random).unwrap();
    let keys = sealer.key_set();
    let field_key = &keys.field_keys()[0];
    let real = &keys.envelopes()[0];
    let decoys = Decoys::new(&[7; DECOY_SECRET_LEN]);
    let decoy = decoys.envelope(field.commitment(), stranger.public_key());
    assert_eq!(decoy.recipient(), stranger.public_key());
    assert_eq!(decoy.sealed_key().len(), real.sealed_key().len());
    let encapsulated = &decoy.sealed_key()[..PUBLIC_KEY_LEN];
    assert!(
        <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(encapsulated).is_ok(),
        "the encapsulated key of a decoy is a public key"
    );
    assert_eq!(
        decoys.envelope(field.commitment(), stranger.public_key()),
        decoy
    );
    assert_ne!(
        decoys.envelope(field.commitment(), carrier.public_key()),
        decoy
    );
    assert_ne!(
        Decoys::new(&[8; DECOY_SECRET_LEN]).envelope(field.commitment(), stranger.public_key()),
        decoy
    );
    assert!(matches!(
        open(&field, field_key, &decoy, &stranger),
        Err(OpenError::Envelope)
    ));
    let carrier_decoy = decoys.envelope(field.commitment(), carrier.public_key());
    assert!(matches!(
        open(&field, field_key, &carrier_decoy, &carrier),
        Err(OpenError::Envelope)
    ));
    // A value the service holds no keys for: a field key of a real one's length, stable.
    let unknown = Commitment::parse_hex(&"ab".repeat(COMMITMENT_LEN)).unwrap();
    let decoy_key = decoys.field_key(&unknown);
    assert_eq!(decoy_key.wrapped().len(), field_key.wrapped().len());
    assert_eq!(decoy_key.commitment(), &unknown);
    assert_eq!(decoys.field_key(&unknown), decoy_key);
    assert_eq!(format!("{decoys:?}"), "Decoys(..)");
}
