//! The reader simulator's model: a population of SGTIN-96 tags and the stream of tag notices a
//! JRD module reports while they pass through its field. Deterministic for a seed, so tests and
//! benchmarks replay exactly the same stream.
//!
//! [`crate::serial::SimulatedJrdModule`] plays this stream on a pseudo-terminal, answering the
//! host's commands as a JRD module does (`firmware-bridge simulate`).

use bytes::{Bytes, BytesMut};

use crate::codec::jrd::TagNotice;

/// A small, fast, deterministic pseudo-random generator (xorshift64*), so that simulated streams
/// are reproducible without a dependency.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator from a seed (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Xorshift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// A value in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A population of SGTIN-96 tags of one product (company prefix 0614141, item reference 812345),
/// with consecutive serial numbers.
#[derive(Debug, Clone)]
pub struct TagPopulation {
    epcs: Vec<Bytes>,
}

impl TagPopulation {
    /// `count` tags with serials `first_serial..first_serial + count`.
    pub fn sgtin96(count: usize, first_serial: u64) -> Self {
        let epcs = (0..count as u64)
            .map(|offset| Bytes::copy_from_slice(&sgtin96_bytes(first_serial + offset)))
            .collect();
        TagPopulation { epcs }
    }

    /// The tags' EPC bytes.
    pub fn epcs(&self) -> &[Bytes] {
        &self.epcs
    }
}

/// The 96 bits of `urn:epc:id:sgtin:0614141.812345.<serial>` with filter 1 (point of sale item),
/// laid out by hand per the Tag Data Standard (header 0x30, partition 5 = 7-digit company prefix).
pub fn sgtin96_bytes(serial: u64) -> [u8; 12] {
    let header: u128 = 0x30;
    let filter: u128 = 1;
    let partition: u128 = 5;
    let company: u128 = 614_141;
    let item: u128 = 812_345;
    let serial = u128::from(serial & ((1 << 38) - 1));
    let bits = header << 88 | filter << 85 | partition << 82 | company << 58 | item << 38 | serial;
    let bytes = bits.to_be_bytes();
    let mut out = [0u8; 12];
    out.copy_from_slice(&bytes[4..]);
    out
}

/// One notice at a time offset from the start of a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedNotice {
    /// Milliseconds since the pass began.
    pub at_ms: u64,
    /// The notice.
    pub notice: TagNotice,
}

/// A pallet of tags moving through a portal: each tag is in the field for a window of the pass
/// and is reported `reads_per_tag` times at random moments of its window.
pub fn portal_pass(
    population: &TagPopulation,
    pass_ms: u64,
    reads_per_tag: usize,
    seed: u64,
) -> Vec<TimedNotice> {
    let mut rng = Xorshift::new(seed);
    let mut notices = Vec::with_capacity(population.epcs().len() * reads_per_tag);
    for epc in population.epcs() {
        let enter = rng.below(pass_ms / 2 + 1);
        let stay = pass_ms / 4 + rng.below(pass_ms / 4 + 1);
        for _ in 0..reads_per_tag {
            let at_ms = enter + rng.below(stay + 1);
            let rssi = -40 - i8::try_from(rng.below(40)).unwrap_or(0);
            // A 96-bit EPC always fits a notice, so this cannot fail.
            if let Ok(notice) = TagNotice::new(rssi, 0, epc.clone()) {
                notices.push(TimedNotice { at_ms, notice });
            }
        }
    }
    notices.sort_by_key(|timed| timed.at_ms);
    notices
}

/// The bytes of a stream of notices, as the module would write them to the serial line.
pub fn notice_bytes(notices: &[TimedNotice]) -> Bytes {
    let mut out = BytesMut::with_capacity(notices.len() * 24);
    for timed in notices {
        timed.notice.to_frame().encode_into(&mut out);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_built_sgtin96_is_the_tag_data_standard_encoding() {
        // The TDS example: urn:epc:id:sgtin:0614141.812345.6789 with filter 3 is 3074257BF7194E4000001A85;
        // with filter 1 only the three filter bits change (0x74 -> 0x34).
        let epc = sgtin96_bytes(6789);
        assert_eq!(crate::read::to_hex(&epc), "3034257BF7194E4000001A85");
        let tag = epcis::tds::EpcTag::from_bytes(&epc).unwrap();
        assert_eq!(tag.id_uri(), "urn:epc:id:sgtin:0614141.812345.6789");
    }

    #[test]
    fn the_same_seed_gives_the_same_pass() {
        let population = TagPopulation::sgtin96(50, 1);
        assert_eq!(
            portal_pass(&population, 3000, 4, 42),
            portal_pass(&population, 3000, 4, 42)
        );
        assert_ne!(
            portal_pass(&population, 3000, 4, 42),
            portal_pass(&population, 3000, 4, 43)
        );
    }
}
