//! The serial frame decoders of the firmware bridge (JRD-4035 / R200 and CF-RU5102), fed arbitrary
//! bytes in arbitrary chunks: they must never panic, must consume everything at end of stream,
//! and every frame they accept must re-encode to bytes that decode to the same frame.
#![no_main]

use bytes::BytesMut;
use firmware_bridge::codec::jrd::JrdCodec;
use firmware_bridge::codec::ru5102::Ru5102Codec;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size, so partial frames are exercised too.
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);

    let mut jrd = JrdCodec::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(message) = jrd.decode(&mut buf).expect("the JRD decoder never fails") {
            frames.push(message);
        }
    }
    while let Some(message) = jrd
        .decode_eof(&mut buf)
        .expect("the JRD decoder never fails")
    {
        frames.push(message);
    }
    assert!(buf.is_empty());
    for message in frames {
        let bytes = message.to_frame().to_bytes();
        let mut again = BytesMut::from(&bytes[..]);
        let decoded = JrdCodec::new()
            .decode_eof(&mut again)
            .expect("never fails")
            .expect("re-encoded frame decodes");
        assert_eq!(decoded, message);
    }

    let mut ru = Ru5102Codec::default();
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(frame) = ru.decode(&mut buf).expect("the RU5102 decoder never fails") {
            let _ = frame.response().map(|response| response.inventory());
            let bytes = frame.to_bytes();
            let mut again = BytesMut::from(&bytes[..]);
            let decoded = Ru5102Codec::default()
                .decode_eof(&mut again)
                .expect("never fails");
            assert_eq!(decoded.as_ref(), Some(&frame));
        }
    }
    while ru.decode_eof(&mut buf).expect("never fails").is_some() {}
    assert!(buf.is_empty());
});
