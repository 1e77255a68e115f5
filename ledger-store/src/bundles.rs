//! Leaf records as stored: rows of `entry_bundles` (V5), each holding the records of entries
//! `first..width` of one entry bundle of 256, in the C2SP tlog-tiles entry-bundle encoding
//! ([`encode_entry_bundle`]). An append cuts its records at the bundle boundaries and writes one
//! row per bundle it touches; a bundle is its rows concatenated in `first` order.

use ledger::tiles::{
    EntryBundleError, EntryBundleId, TILE_WIDTH, decode_entry_bundle, encode_entry_bundle,
};

use super::log::{Log, ReadError};

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
    /// The rows holding `records`, the leaf records of leaves `first_leaf` onwards.
    pub(crate) fn new(first_leaf: u64, records: &[Vec<u8>]) -> Result<Self, EntryBundleError> {
        let mut rows = Self::default();
        let mut leaf = first_leaf;
        let mut rest = records;
        while !rest.is_empty() {
            let position = leaf % BUNDLE;
            let take = usize::try_from(BUNDLE - position)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let (piece, tail) = rest.split_at(take);
            rows.bundle_indexes
                .push(i64::try_from(leaf / BUNDLE).unwrap_or(i64::MAX));
            // Positions and widths are at most 256.
            rows.firsts.push(position as i16);
            rows.widths.push((position + take as u64) as i16);
            rows.entries
                .push(encode_entry_bundle(piece.iter().map(Vec::as_slice))?);
            leaf += take as u64;
            rest = tail;
        }
        Ok(rows)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bundle_indexes.is_empty()
    }
}

/// Why a stored row does not hold the records it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BundleRowError {
    #[error("is not an entry bundle: {0}")]
    Malformed(#[from] EntryBundleError),
    #[error("holds {found} records where its first and width say {expected}")]
    Count { expected: usize, found: usize },
}

/// The records of a stored row holding entries `first..width` of its bundle: exactly that many.
pub(crate) fn row_records(
    first: u16,
    width: u16,
    entries: &[u8],
) -> Result<Vec<&[u8]>, BundleRowError> {
    let records = decode_entry_bundle(entries)?;
    let expected = usize::from(width.saturating_sub(first));
    if records.len() != expected {
        return Err(BundleRowError::Count {
            expected,
            found: records.len(),
        });
    }
    Ok(records)
}

/// The rows of one entry bundle below a width, in `first` order.
const SELECT_BUNDLE: &str = "SELECT first, width, entries FROM entry_bundles
    WHERE bundle_index = $1 AND first < $2 ORDER BY first";

impl Log {
    /// The entry bundle `id` at exactly its width (the C2SP tlog-tiles `tile/entries/<N>[.p/<W>]`
    /// resource: the leaf records of entries `256 N` to `256 N + W - 1`), or `None` if the log
    /// does not hold that many entries of the bundle.
    pub async fn entry_bundle(&self, id: EntryBundleId) -> Result<Option<Vec<u8>>, ReadError> {
        let client = self.pool().get().await?;
        let statement = client.prepare_cached(SELECT_BUNDLE).await?;
        let index = i64::try_from(id.index()).unwrap_or(i64::MAX);
        let width = id.width();
        let rows = client
            .query(
                &statement,
                &[&index, &i16::try_from(width).unwrap_or(i16::MAX)],
            )
            .await?;
        let corrupt = |reason: String| ReadError::Corrupt {
            what: "entry bundle",
            reason: format!("bundle {}: {reason}", id.index()),
        };
        let mut bundle = Vec::new();
        let mut reached: u16 = 0;
        for row in &rows {
            // The row's CHECK constraints keep both within 0..=256.
            let (first, end) = (row.get::<_, i16>(0) as u16, row.get::<_, i16>(1) as u16);
            let entries: &[u8] = row.get(2);
            if first != reached {
                return Err(corrupt(format!("no row holds entry {reached}")));
            }
            let records =
                row_records(first, end, entries).map_err(|error| corrupt(error.to_string()))?;
            if end <= width {
                // A row is itself an encoded run of records: whole rows are copied as they are.
                bundle.extend_from_slice(entries);
            } else {
                let wanted = usize::from(width - first);
                let piece = encode_entry_bundle(records.into_iter().take(wanted))
                    .map_err(|error| corrupt(error.to_string()))?;
                bundle.extend_from_slice(&piece);
            }
            reached = end.min(width);
        }
        Ok((reached == width).then_some(bundle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![i as u8; 1 + i % 7]).collect()
    }

    #[test]
    fn rows_are_cut_at_bundle_boundaries_and_hold_their_records_in_order() {
        for (first_leaf, n) in [
            (0u64, 1usize),
            (0, 256),
            (255, 2),
            (100, 700),
            (512, 0),
            (3, 1000),
        ] {
            let all = records(n);
            let rows = BundleRows::new(first_leaf, &all).unwrap();
            let mut read = Vec::new();
            let mut next = first_leaf;
            for i in 0..rows.bundle_indexes.len() {
                let bundle = rows.bundle_indexes[i] as u64;
                let (first, width) = (rows.firsts[i] as u16, rows.widths[i] as u16);
                assert!(first < width && u64::from(width) <= BUNDLE, "row {i}");
                // Each row starts where the previous one ended.
                assert_eq!(bundle * BUNDLE + u64::from(first), next, "row {i}");
                next = bundle * BUNDLE + u64::from(width);
                let held = row_records(first, width, &rows.entries[i]).unwrap();
                read.extend(held.into_iter().map(<[u8]>::to_vec));
            }
            assert_eq!(read, all, "first leaf {first_leaf}, {n} records");
            assert_eq!(rows.is_empty(), n == 0);
        }
    }

    #[test]
    fn rows_that_do_not_hold_their_records_are_refused() {
        let rows = BundleRows::new(10, &records(3)).unwrap();
        let entries = &rows.entries[0];
        assert_eq!(row_records(10, 13, entries).map(|r| r.len()), Ok(3));
        assert_eq!(
            row_records(10, 14, entries),
            Err(BundleRowError::Count {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            row_records(10, 12, entries),
            Err(BundleRowError::Count {
                expected: 2,
                found: 3
            })
        );
        assert!(matches!(
            row_records(10, 13, &entries[..entries.len() - 1]),
            Err(BundleRowError::Malformed(
                EntryBundleError::Truncated { .. }
            ))
        ));
    }

    #[test]
    fn a_record_too_long_for_a_bundle_is_refused() {
        assert_eq!(
            BundleRows::new(0, &[vec![0; 70_000]]).map(|rows| rows.entries.len()),
            Err(EntryBundleError::EntryTooLong(70_000))
        );
    }
}
