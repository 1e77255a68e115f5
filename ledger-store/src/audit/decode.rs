//! The decoding threads: entry bundle rows split into their leaf records, each decoded and hashed,
//! handed to the checking thread in leaf order.

use ledger::hash::{Hash, leaf_hash};
use ledger::record::LeafRecord;
use tokio::sync::mpsc;

use crate::bundles::{BUNDLE, row_records};
use crate::copy::CopyRow;

use super::problem::{BundleRowProblem, EntryReason};

/// Threads that split, decode and hash the leaf records of entry bundle rows.
pub(super) const DECODERS: usize = 2;

/// A leaf record split out of its entry bundle row, decoded and hashed (by a decoding thread).
/// A row that does not hold its records ends in an entry whose record is the reason.
#[derive(Debug)]
pub(super) struct DecodedEntry {
    pub(super) leaf_index: u64,
    pub(super) record: Result<LeafRecord, EntryReason>,
    pub(super) leaf_hash: Hash,
}

/// A decoding thread: splits the entry bundle rows of each chunk into leaf records, decodes and
/// hashes them, and passes them on in order, until the rows end or the checking thread is gone.
pub(super) fn decode_bundles(
    mut input: mpsc::Receiver<Vec<CopyRow>>,
    out: mpsc::Sender<Vec<DecodedEntry>>,
) {
    while let Some(rows) = input.blocking_recv() {
        let mut decoded = Vec::with_capacity(rows.len() * BUNDLE as usize);
        for row in &rows {
            decode_bundle_row(row, &mut decoded);
        }
        if out.blocking_send(decoded).is_err() {
            return;
        }
    }
}

/// Splits one entry bundle row `(bundle_index, first, width, entries)` into its decoded and hashed
/// leaf records, appended to `out`.
pub(super) fn decode_bundle_row(row: &CopyRow, out: &mut Vec<DecodedEntry>) {
    let (bundle, first, width) = (row.int8(0), row.int2(1), row.int2(2));
    let malformed = |leaf_index: u64, problem: BundleRowProblem| DecodedEntry {
        leaf_index,
        record: Err(EntryReason::BundleRow {
            bundle,
            first,
            width,
            problem,
        }),
        leaf_hash: leaf_hash(&[]),
    };
    let (Ok(bundle_index), Ok(first_position), Ok(end)) = (
        u64::try_from(bundle),
        u16::try_from(first),
        u16::try_from(width),
    ) else {
        out.push(malformed(0, BundleRowProblem::NegativePosition));
        return;
    };
    let start = bundle_index.saturating_mul(BUNDLE) + u64::from(first_position);
    // A row that does not hold its records is reported at its first entry.
    match row_records(first_position, end, row.bytes(3)) {
        Err(error) => out.push(malformed(start, error.into())),
        Ok(records) => out.extend(
            (start..)
                .zip(records)
                .map(|(leaf_index, bytes)| DecodedEntry {
                    leaf_index,
                    record: LeafRecord::decode(bytes).map_err(EntryReason::MalformedRecord),
                    leaf_hash: leaf_hash(bytes),
                }),
        ),
    }
}
