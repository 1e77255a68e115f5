//! Property tests of the serial frame codecs: round trips, never panicking on arbitrary bytes, and
//! single flipped bits that never turn one frame into another.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use bytes::{Bytes, BytesMut};
use firmware_bridge::codec::jrd::{
    FrameType, JrdCodec, JrdCommand, JrdFrame, JrdMessage, TagNotice,
};
use firmware_bridge::codec::ru5102::{Ru5102Codec, Ru5102Frame};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

fn frame_type() -> impl Strategy<Value = FrameType> {
    prop_oneof![
        Just(FrameType::Command),
        Just(FrameType::Response),
        Just(FrameType::Notice)
    ]
}

fn jrd_frame() -> impl Strategy<Value = JrdFrame> {
    (
        frame_type(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(kind, command, params)| JrdFrame::new(kind, command, params).unwrap())
}

fn jrd_decode_all(codec: &mut JrdCodec, bytes: &[u8]) -> Vec<JrdMessage> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(message) = codec.decode_eof(&mut buf).unwrap() {
        out.push(message);
    }
    out
}

fn ru_frame() -> impl Strategy<Value = Ru5102Frame> {
    (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..60),
    )
        .prop_map(|(address, command, payload)| {
            Ru5102Frame::new(address, command, payload).unwrap()
        })
}

fn ru_decode_all(codec: &mut Ru5102Codec, bytes: &[u8]) -> Vec<Ru5102Frame> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
        out.push(frame);
    }
    out
}

proptest! {
    #[test]
    fn a_jrd_frame_round_trips(frames in proptest::collection::vec(jrd_frame(), 1..5)) {
        let mut bytes = BytesMut::new();
        for frame in &frames {
            frame.encode_into(&mut bytes);
        }
        let mut codec = JrdCodec::new();
        let decoded: Vec<JrdFrame> = jrd_decode_all(&mut codec, &bytes).iter().map(JrdMessage::to_frame).collect();
        prop_assert_eq!(decoded, frames);
        prop_assert_eq!(codec.stats().garbage_bytes, 0);
    }

    #[test]
    fn a_tag_notice_round_trips(rssi in any::<i8>(), flags in any::<u16>(), words in 0usize..=31, seed in any::<u8>()) {
        let epc: Vec<u8> = (0..words * 2).map(|i| seed.wrapping_add(i as u8)).collect();
        let notice = TagNotice::new(rssi, flags, epc).unwrap();
        let messages = jrd_decode_all(&mut JrdCodec::new(), &notice.to_frame().to_bytes());
        prop_assert_eq!(messages, vec![JrdMessage::TagNotice(notice)]);
    }

    #[test]
    fn a_jrd_command_round_trips(count in any::<u16>(), power in any::<u16>(), kind in any::<u8>()) {
        for command in [
            JrdCommand::SinglePoll,
            JrdCommand::MultiPoll { count },
            JrdCommand::StopMultiPoll,
            JrdCommand::SetPower { centi_dbm: power },
            JrdCommand::GetPower,
            JrdCommand::ModuleInfo { kind },
        ] {
            let messages = jrd_decode_all(&mut JrdCodec::new(), &command.to_frame().to_bytes());
            prop_assert_eq!(messages.len(), 1);
            prop_assert_eq!(JrdCommand::from_frame(&messages[0].to_frame()), Some(command));
        }
    }

    #[test]
    fn the_jrd_decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut codec = JrdCodec::new();
        let messages = jrd_decode_all(&mut codec, &bytes);
        let stats = codec.stats();
        prop_assert_eq!(stats.frames, messages.len() as u64);
    }

    #[test]
    fn the_jrd_decoder_never_panics_on_arbitrary_chunks(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20)) {
        let mut codec = JrdCodec::new();
        let mut buf = BytesMut::new();
        for chunk in chunks {
            buf.extend_from_slice(&chunk);
            while codec.decode(&mut buf).unwrap().is_some() {}
        }
        while codec.decode_eof(&mut buf).unwrap().is_some() {}
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn a_flipped_bit_in_a_jrd_frame_is_never_accepted_and_the_next_frame_survives(
        frame in jrd_frame(),
        next in jrd_frame(),
        bit in any::<prop::sample::Index>(),
    ) {
        let mut bytes = BytesMut::new();
        frame.encode_into(&mut bytes);
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        next.encode_into(&mut bytes);
        let mut codec = JrdCodec::new();
        let decoded: Vec<JrdFrame> = jrd_decode_all(&mut codec, &bytes).iter().map(JrdMessage::to_frame).collect();
        prop_assert_eq!(decoded, vec![next]);
        let stats = codec.stats();
        prop_assert!(stats.garbage_bytes > 0);
    }

    #[test]
    fn an_ru5102_frame_round_trips(frames in proptest::collection::vec(ru_frame(), 1..5)) {
        let mut bytes = BytesMut::new();
        for frame in &frames {
            frame.encode_into(&mut bytes);
        }
        let mut codec = Ru5102Codec::default();
        prop_assert_eq!(ru_decode_all(&mut codec, &bytes), frames);
        prop_assert_eq!(codec.stats().garbage_bytes, 0);
    }

    #[test]
    fn the_ru5102_decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut codec = Ru5102Codec::default();
        let frames = ru_decode_all(&mut codec, &bytes);
        for frame in frames {
            let _ = frame.response().map(|response| response.inventory());
        }
    }

    #[test]
    fn a_flipped_bit_in_an_ru5102_frame_is_never_accepted_and_the_next_frame_survives(
        frame in ru_frame(),
        next in ru_frame(),
        bit in any::<prop::sample::Index>(),
    ) {
        let mut bytes = BytesMut::new();
        frame.encode_into(&mut bytes);
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let flipped = Bytes::copy_from_slice(&bytes);
        next.encode_into(&mut bytes);
        let mut codec = Ru5102Codec::default();
        let decoded = ru_decode_all(&mut codec, &bytes);
        // With no start byte, the only way back in step is the CRC: the flipped frame must never
        // be accepted (a CRC-16 detects every single-bit error), and the frame after it must come
        // out intact, unless the decoder, resynchronising byte by byte through the corrupted
        // frame, met bytes whose CRC-16 matched by chance (about 2^-16 at each place it tries)
        // and took them, with part of the next frame, for a frame. Such a chance frame is the
        // only excuse: a lost frame with no chance match is a decoder bug.
        // `proptest-regressions/codecs.txt` keeps one such case, so it is tried on every run.
        prop_assert!(!decoded.iter().any(|f| f.to_bytes() == flipped), "accepted a corrupted frame");
        let chance_match = decoded.iter().any(|f| *f != next);
        if !chance_match {
            prop_assert_eq!(decoded.last(), Some(&next));
        }
    }
}
