//! Leaf records as stored: rows of `entry_bundles` (V5), each holding the records of entries
//! `first..width` of one entry bundle of 256, in the C2SP tlog-tiles entry-bundle encoding (each
//! record as a big-endian u16 length and its bytes). An append cuts its records at the bundle
//! boundaries and writes one row per bundle it touches; a bundle is its rows concatenated in
//! `first` order.

use crate::tiles::TILE_WIDTH;

/// Entries per bundle.
pub(crate) const BUNDLE: u64 = TILE_WIDTH as u64;

/// The rows an append writes, as the columns of one `INSERT ... SELECT * FROM unnest(...)`.
#[derive(Debug, Default)]
pub(crate) struct BundleRows {
    pub(crate) bundle_indexes: Vec<i64>,
    pub(crate) firsts: Vec<i16>,
    pub(crate) widths: Vec<i16>,
    pub(crate) entries: Vec<Vec<u8>>,
}

impl BundleRows {
    /// Rows for the records of leaves `first_leaf` onwards, added one at a time with [`Self::push`].
    pub(crate) fn starting_at(first_leaf: u64, records: usize) -> Self {
        let rows = records.div_ceil(BUNDLE as usize) + 1;
        let mut new = Self {
            bundle_indexes: Vec::with_capacity(rows),
            firsts: Vec::with_capacity(rows),
            widths: Vec::with_capacity(rows),
            entries: Vec::with_capacity(rows),
        };
        new.open(first_leaf);
        new
    }

    fn open(&mut self, leaf: u64) {
        self.bundle_indexes
            .push(i64::try_from(leaf / BUNDLE).unwrap_or(i64::MAX));
        let position = (leaf % BUNDLE) as i16;
        self.firsts.push(position);
        self.widths.push(position);
        self.entries.push(Vec::with_capacity(8 * 1024));
    }

    /// Appends the next leaf's record. Leaf records are at most 207 bytes (`record`), far below the
    /// 65,535 an entry bundle can frame.
    pub(crate) fn push(&mut self, record: &[u8]) {
        debug_assert!(record.len() <= usize::from(u16::MAX));
        if self.widths.last().is_some_and(|&w| w as u64 == BUNDLE) {
            let next = self
                .bundle_indexes
                .last()
                .map_or(0, |&b| (b as u64 + 1) * BUNDLE);
            self.open(next);
        }
        let (Some(width), Some(entries)) = (self.widths.last_mut(), self.entries.last_mut()) else {
            return;
        };
        let len = u16::try_from(record.len()).unwrap_or(u16::MAX);
        entries.extend_from_slice(&len.to_be_bytes());
        entries.extend_from_slice(&record[..usize::from(len)]);
        *width += 1;
    }

    /// The rows, without the empty one a group of no records leaves.
    pub(crate) fn finish(mut self) -> Self {
        if self.widths.last() == self.firsts.last() {
            self.bundle_indexes.pop();
            self.firsts.pop();
            self.widths.pop();
            self.entries.pop();
        }
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bundle_indexes.is_empty()
    }
}

/// Why stored bundle rows do not hold the records they should.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BundleRowError {
    #[error("ends inside the record of entry {0}")]
    Truncated(u64),
    #[error("holds {found} records where its first and width say {expected}")]
    Count { expected: u64, found: u64 },
}

/// Splits the records of a stored row (entries `first..width` of bundle `bundle`), calling `each`
/// with every leaf index and record in order; checks that the row holds exactly that many.
pub(crate) fn for_each_record<'a>(
    bundle: u64,
    first: u16,
    width: u16,
    entries: &'a [u8],
    mut each: impl FnMut(u64, &'a [u8]),
) -> Result<(), BundleRowError> {
    let start = bundle.saturating_mul(BUNDLE) + u64::from(first);
    let expected = u64::from(width.saturating_sub(first));
    let mut rest = entries;
    let mut found = 0u64;
    while !rest.is_empty() {
        let leaf = start + found;
        let Some((len, body)) = rest.split_first_chunk::<2>() else {
            return Err(BundleRowError::Truncated(leaf));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if body.len() < len {
            return Err(BundleRowError::Truncated(leaf));
        }
        let (record, tail) = body.split_at(len);
        if found < expected {
            each(leaf, record);
        }
        found += 1;
        rest = tail;
    }
    if found != expected {
        return Err(BundleRowError::Count { expected, found });
    }
    Ok(())
}

/// The record of entry `position` of a bundle, from the row holding entries `first..` of it.
pub(crate) fn record_in_row(entries: &[u8], first: u16, position: u16) -> Option<&[u8]> {
    let mut rest = entries;
    let mut at = first;
    loop {
        let (len, body) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if body.len() < len {
            return None;
        }
        let (record, tail) = body.split_at(len);
        if at == position {
            return Some(record);
        }
        at = at.checked_add(1)?;
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiles::decode_entry_bundle;

    fn records(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![i as u8; 1 + i % 7]).collect()
    }

    #[test]
    fn rows_are_cut_at_bundle_boundaries_and_concatenate_to_entry_bundles() {
        for (first_leaf, n) in [
            (0u64, 1usize),
            (0, 256),
            (255, 2),
            (100, 700),
            (512, 0),
            (3, 1000),
        ] {
            let all = records(n);
            let mut rows = BundleRows::starting_at(first_leaf, n);
            for record in &all {
                rows.push(record);
            }
            let rows = rows.finish();
            let mut read = Vec::new();
            for i in 0..rows.bundle_indexes.len() {
                let bundle = rows.bundle_indexes[i] as u64;
                let (first, width) = (rows.firsts[i] as u16, rows.widths[i] as u16);
                assert!(first < width && u64::from(width) <= BUNDLE, "row {i}");
                // Every row is a piece of a C2SP entry bundle.
                let decoded = decode_entry_bundle(&rows.entries[i]).unwrap();
                assert_eq!(decoded.len(), usize::from(width - first));
                for_each_record(bundle, first, width, &rows.entries[i], |leaf, record| {
                    read.push((leaf, record.to_vec()));
                })
                .unwrap();
                if i > 0 {
                    let previous_end =
                        rows.bundle_indexes[i - 1] as u64 * BUNDLE + rows.widths[i - 1] as u64;
                    assert_eq!(bundle * BUNDLE + u64::from(first), previous_end);
                }
                for position in first..width {
                    let leaf = bundle * BUNDLE + u64::from(position);
                    let expected = &all[(leaf - first_leaf) as usize];
                    assert_eq!(
                        record_in_row(&rows.entries[i], first, position),
                        Some(expected.as_slice())
                    );
                }
                assert_eq!(record_in_row(&rows.entries[i], first, width), None);
            }
            let expected: Vec<(u64, Vec<u8>)> = all
                .iter()
                .enumerate()
                .map(|(i, r)| (first_leaf + i as u64, r.clone()))
                .collect();
            assert_eq!(read, expected, "first leaf {first_leaf}, {n} records");
            assert_eq!(rows.is_empty(), n == 0);
        }
    }

    #[test]
    fn rows_that_do_not_hold_their_records_are_refused() {
        let mut rows = BundleRows::starting_at(10, 3);
        for record in records(3) {
            rows.push(&record);
        }
        let rows = rows.finish();
        let entries = &rows.entries[0];
        let ignore = |_: u64, _: &[u8]| {};
        assert_eq!(for_each_record(0, 10, 13, entries, ignore), Ok(()));
        assert_eq!(
            for_each_record(0, 10, 14, entries, ignore),
            Err(BundleRowError::Count {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            for_each_record(0, 10, 12, entries, ignore),
            Err(BundleRowError::Count {
                expected: 2,
                found: 3
            })
        );
        assert_eq!(
            for_each_record(0, 10, 13, &entries[..entries.len() - 1], ignore),
            Err(BundleRowError::Truncated(12))
        );
        assert_eq!(
            for_each_record(2, 10, 13, &entries[..1], ignore),
            Err(BundleRowError::Truncated(522))
        );
    }
}
