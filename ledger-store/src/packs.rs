//! Event packs (`sql/V6__event_packs.sql`): the log's events, a few consecutive entries of one
//! append to a row of `event_packs` (their event hashes, 32 bytes each, and their JSON text), and
//! the queries that read entries back out of them through the packs' primary key.
//!
//! One row per pack instead of one per entry saves the sequencer, per entry, a heap tuple header,
//! a primary-key entry and its WAL record, and a tuple slot of its `COPY`: the costs of a row that
//! are not its bytes.

use std::ops::Range;

use bytes::{BufMut, BytesMut};

/// A pack is closed before its event text and per-entry overhead (`ENTRY_OVERHEAD`) would exceed
/// this, so that its row stays in its heap page uncompressed (`toast_tuple_target = 8160`).
pub(crate) const PACK_BYTES: usize = 7_600;

/// The most entries a pack holds (also a CHECK constraint of `event_packs`; with
/// [`PACK_BYTES`], packs hold at most 211 anyway).
pub(crate) const MAX_PACK_ENTRIES: usize = 256;

/// What an entry costs a pack besides its event text: its event hash and the array element's
/// length word.
const ENTRY_OVERHEAD: usize = 32 + 4;

/// The binary `COPY` header: signature, flags (no OIDs), header extension length (none).
const COPY_HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// PostgreSQL's type OID of `text`, the element type of `event_packs.events`.
const TEXT_OID: i32 = 25;

/// The tree size: where the last pack ends (also usable as a scalar subquery).
pub const TREE_SIZE: &str = "SELECT coalesce((SELECT first_leaf + cardinality(events)
    FROM event_packs ORDER BY first_leaf DESC LIMIT 1), 0)";

/// `leaf_index, event_hash, event` of the entries at the leaves `$1` (`bigint[]`) that the log
/// has, each found through the primary key of the pack holding it: the query for services that
/// read entries of the log by leaf index.
pub const EVENTS_AT: &str = "SELECT l.leaf,
        substring(p.event_hashes FROM (32 * (l.leaf - p.first_leaf) + 1)::integer FOR 32),
        p.events[(l.leaf - p.first_leaf + 1)::integer]
    FROM unnest($1::bigint[]) AS l(leaf)
    CROSS JOIN LATERAL (SELECT first_leaf, event_hashes, events FROM event_packs
        WHERE first_leaf <= l.leaf ORDER BY first_leaf DESC LIMIT 1) p
    WHERE l.leaf < p.first_leaf + cardinality(p.events)";

/// `leaf_index, event_hash, event` of the entries `from..until` that the log has, in leaf order.
/// `from` and `until` are SQL expressions: parameters (`"$1"`), or integers formatted by the
/// caller where the statement takes none (`COPY`).
pub(crate) fn in_range(from: &str, until: &str) -> String {
    entries_in_range(", u.event", from, until)
}

/// `leaf_index, event_hash` of the entries `from..until` that the log has, in leaf order (bounds
/// as for [`in_range`]); the events' text is not copied out of the packs.
pub(crate) fn hashes_in_range(from: &str, until: &str) -> String {
    entries_in_range("", from, until)
}

/// The entries `from..until`, with `event` (empty, or `", u.event"`) after their leaf index and
/// event hash. The positions come from `unnest` of the events rather than from
/// `generate_series`, whose row estimate (1,000 per pack) made the planner choose scans of the
/// whole table.
fn entries_in_range(event: &str, from: &str, until: &str) -> String {
    format!(
        "SELECT p.first_leaf + u.position - 1 AS leaf_index,
            substring(p.event_hashes FROM (32 * u.position - 31)::integer FOR 32) AS event_hash
            {event}
        FROM event_packs p
        CROSS JOIN LATERAL unnest(p.events) WITH ORDINALITY AS u(event, position)
        WHERE {}
          AND p.first_leaf + u.position - 1 >= {from}
          AND p.first_leaf + u.position - 1 < {until}
        ORDER BY p.first_leaf, u.position",
        packs_holding(from, until)
    )
}

/// The condition on `p.first_leaf` that selects the packs that may hold entries `from..until`: a
/// range of the primary key whose bounds the planner knows (a pack holding `from` starts at most
/// [`MAX_PACK_ENTRIES`] - 1 entries before it).
pub(crate) fn packs_holding(from: &str, until: &str) -> String {
    format!("p.first_leaf > {from}::bigint - {MAX_PACK_ENTRIES} AND p.first_leaf < {until}::bigint")
}

/// How consecutive events split into packs: each pack's range of positions, in order. A pack
/// takes events while they fit in [`PACK_BYTES`] (and [`MAX_PACK_ENTRIES`]); an event too large
/// for any pack is a pack of its own.
pub(crate) fn split<'a>(events: impl IntoIterator<Item = &'a str>) -> Vec<Range<usize>> {
    let mut packs = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    let mut end = 0;
    for event in events {
        let cost = event.len() + ENTRY_OVERHEAD;
        if end > start && (bytes + cost > PACK_BYTES || end - start == MAX_PACK_ENTRIES) {
            packs.push(start..end);
            start = end;
            bytes = 0;
        }
        bytes += cost;
        end += 1;
    }
    if end > start {
        packs.push(start..end);
    }
    packs
}

/// Rows of `event_packs (first_leaf, event_hashes, events)` in PostgreSQL's binary `COPY`
/// format: the header, then per row a field count and each field as a length and its bytes
/// (big-endian; `events` as a one-dimensional `text[]` without nulls: dimensions, null flag,
/// element type, length and lower bound, then each element as a length and its bytes), and a
/// trailer of -1.
pub(crate) struct PackEncoder {
    buffer: BytesMut,
}

impl PackEncoder {
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buffer = BytesMut::with_capacity(capacity);
        buffer.put_slice(COPY_HEADER);
        Self { buffer }
    }

    /// One pack: the entries from leaf `first_leaf` on, with these hashes and events.
    pub(crate) fn pack(&mut self, first_leaf: i64, hashes: &[&[u8]], events: &[&str]) {
        let buffer = &mut self.buffer;
        buffer.put_i16(3);
        buffer.put_i32(8);
        buffer.put_i64(first_leaf);
        buffer.put_i32(length(32 * hashes.len()));
        for hash in hashes {
            buffer.put_slice(hash);
        }
        let text: usize = events.iter().map(|event| 4 + event.len()).sum();
        buffer.put_i32(length(20 + text));
        buffer.put_i32(1); // dimensions
        buffer.put_i32(0); // no nulls
        buffer.put_i32(TEXT_OID);
        buffer.put_i32(length(events.len()));
        buffer.put_i32(1); // lower bound
        for event in events {
            buffer.put_i32(length(event.len()));
            buffer.put_slice(event.as_bytes());
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.buffer.len()
    }

    /// The rows encoded so far, to be sent.
    pub(crate) fn take(&mut self) -> bytes::Bytes {
        self.buffer.split().freeze()
    }

    /// The rest, with the trailer.
    pub(crate) fn finish(mut self) -> bytes::Bytes {
        self.buffer.put_i16(-1);
        self.buffer.freeze()
    }
}

/// A field length. Fields are far below 1 GiB: the request body limit bounds an event.
fn length(bytes: usize) -> i32 {
    i32::try_from(bytes).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_into_packs_that_fit_and_a_large_event_is_a_pack_of_its_own() {
        let small = "x".repeat(1_000);
        let large = "y".repeat(10_000);
        // 1,036 bytes each: seven fit in 7,600, the eighth does not.
        let events: Vec<&str> = std::iter::repeat_n(small.as_str(), 9)
            .chain([large.as_str(), small.as_str()])
            .collect();
        assert_eq!(
            split(events.iter().copied()),
            vec![0..7, 7..9, 9..10, 10..11]
        );
        assert_eq!(split(std::iter::empty()), Vec::<Range<usize>>::new());
        assert_eq!(split([large.as_str()]), vec![0..1]);
        // Empty events cost 36 bytes each: 211 fit.
        assert_eq!(split(std::iter::repeat_n("", 300)), vec![0..211, 211..300]);
    }

    #[test]
    fn a_pack_is_encoded_as_postgresql_reads_binary_copy_rows() {
        let mut encoder = PackEncoder::new(64);
        encoder.pack(7, &[&[0xaa; 32]], &["ab"]);
        let bytes = encoder.finish();
        let mut expected = COPY_HEADER.to_vec();
        expected.extend_from_slice(&3i16.to_be_bytes());
        expected.extend_from_slice(&8i32.to_be_bytes());
        expected.extend_from_slice(&7i64.to_be_bytes());
        expected.extend_from_slice(&32i32.to_be_bytes());
        expected.extend_from_slice(&[0xaa; 32]);
        expected.extend_from_slice(&26i32.to_be_bytes());
        for word in [1i32, 0, 25, 1, 1, 2] {
            expected.extend_from_slice(&word.to_be_bytes());
        }
        expected.extend_from_slice(b"ab");
        expected.extend_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(bytes.as_ref(), expected.as_slice());
    }
}
