//! [`HashFilter`]: the sequencer's in-memory filter of every event hash in the log.
//!
//! Before appending, the sequencer must know whether each event is already in the log. Asking the
//! database about every event cost an index probe per event (and a B-tree insertion per event to
//! keep that index); almost every answer is "no". The filter answers "no" in memory for all but a
//! few in ten thousand new events; only the events it cannot rule out (true duplicates and rare
//! false positives) are looked up in the lookup runs.
//!
//! It is a blocked Bloom filter (every key sets 10 bits of one 512-bit block, one cache line),
//! 24 bits per key, in segments: when a segment holds as many keys as it was sized for, a segment
//! twice as large is added, so the filter grows without ever being rebuilt. The false-positive rate
//! is about 1 in 30,000 per segment (68 in a million with two segments, measured by the tests); a log of n events has about log2(n / 2^20) segments.

/// Bits of filter per key.
const BITS_PER_KEY: usize = 24;
/// Bits set per key, all in the key's block.
const BITS_SET: u32 = 10;
/// The number of keys the first segment is sized for; each next one holds twice as many.
const FIRST_CAPACITY: usize = 1 << 20;

/// A filter of 64-bit keys: the lookup runs' keys of event hashes ([`hash_key`](super::runs::hash_key),
/// their first 8 bytes), uniformly distributed.
#[derive(Debug, Clone, Default)]
pub(crate) struct HashFilter {
    segments: Vec<Segment>,
    first_capacity: usize,
}

#[derive(Debug, Clone)]
struct Segment {
    blocks: Vec<[u64; 8]>,
    capacity: usize,
    len: usize,
}

impl Segment {
    fn new(capacity: usize) -> Self {
        let blocks = (capacity * BITS_PER_KEY).div_ceil(512).max(1);
        Self {
            blocks: vec![[0; 8]; blocks],
            capacity,
            len: 0,
        }
    }

    /// The key's block and the positions of its bits in the block.
    fn bits(&self, key: u64) -> (usize, impl Iterator<Item = u32> + use<>) {
        // The block from the key's high bits (a multiply-shift range reduction); each bit from 9
        // bits of one of two independent mixes of the key.
        let block = ((u128::from(key) * self.blocks.len() as u128) >> 64) as usize;
        let (a, b) = (mix(key), mix(key ^ 0x9e37_79b9_7f4a_7c15));
        let bits = (0..BITS_SET).map(move |i| {
            let word = if i < 7 {
                a >> (9 * i)
            } else {
                b >> (9 * (i - 7))
            };
            (word & 511) as u32
        });
        (block, bits)
    }

    fn insert(&mut self, key: u64) {
        let (block, bits) = self.bits(key);
        let words = &mut self.blocks[block];
        for bit in bits {
            words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.len += 1;
    }

    fn may_contain(&self, key: u64) -> bool {
        let (block, mut bits) = self.bits(key);
        let words = &self.blocks[block];
        bits.all(|bit| words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }
}

/// SplitMix64's finaliser: every output bit depends on every input bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl HashFilter {
    /// An empty filter whose first segment is sized for about 2^20 keys (3 MiB).
    pub(crate) fn new() -> Self {
        Self::with_first_capacity(FIRST_CAPACITY)
    }

    /// An empty filter whose first segment is sized for `capacity` keys.
    pub(crate) fn with_first_capacity(capacity: usize) -> Self {
        Self {
            segments: Vec::new(),
            first_capacity: capacity.max(1),
        }
    }

    /// Adds a key.
    pub(crate) fn insert(&mut self, key: i64) {
        let key = u64::from_ne_bytes(key.to_ne_bytes());
        let full = self
            .segments
            .last()
            .is_none_or(|last| last.len >= last.capacity);
        if full {
            let capacity = self
                .segments
                .last()
                .map_or(self.first_capacity, |last| last.capacity.saturating_mul(2));
            self.segments.push(Segment::new(capacity));
        }
        if let Some(last) = self.segments.last_mut() {
            last.insert(key);
        }
    }

    /// False only when the key was never inserted.
    pub(crate) fn may_contain(&self, key: i64) -> bool {
        let key = u64::from_ne_bytes(key.to_ne_bytes());
        self.segments.iter().any(|segment| segment.may_contain(key))
    }

    /// The number of keys inserted.
    pub(crate) fn len(&self) -> usize {
        self.segments.iter().map(|segment| segment.len).sum()
    }

    /// The filter's memory, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.segments
            .iter()
            .map(|segment| segment.blocks.len() * 64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::runs::hash_key;

    fn key(n: u64) -> i64 {
        hash_key(&Sha256::digest(n.to_be_bytes()).into())
    }

    #[test]
    fn every_inserted_key_is_found_across_segments() {
        let mut filter = HashFilter::with_first_capacity(1000);
        for n in 0..20_000 {
            filter.insert(key(n));
        }
        // 1,000 + 2,000 + 4,000 + 8,000 + 16,000 keys of capacity: five segments.
        assert_eq!(filter.segments.len(), 5);
        assert_eq!(filter.len(), 20_000);
        assert!((0..20_000).all(|n| filter.may_contain(key(n))));
    }

    #[test]
    fn false_positives_are_rare() {
        let mut filter = HashFilter::with_first_capacity(50_000);
        for n in 0..100_000 {
            filter.insert(key(n));
        }
        let false_positives = (100_000..1_100_000)
            .filter(|&n| filter.may_contain(key(n)))
            .count();
        // Two segments at about 1 in 30,000 each: 68 in this million; allow four times that.
        assert!(
            false_positives < 300,
            "{false_positives} false positives in 1,000,000"
        );
        assert!(filter.bytes() <= (50_000 + 100_000) * BITS_PER_KEY / 8 + 128);
    }

    #[test]
    fn an_empty_filter_contains_nothing() {
        let filter = HashFilter::new();
        assert!(!filter.may_contain(0) && !filter.may_contain(-1));
        assert_eq!((filter.len(), filter.bytes()), (0, 0));
    }
}
