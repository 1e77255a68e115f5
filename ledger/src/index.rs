//! The verifiable index: for each key (an EPC, a container, a class, a lot, a location on a
//! day) the complete list of the entries whose events have it, committed per checkpoint, so
//! that a history or a query answer can prove that nothing was left out.
//!
//! The index of a log's first `n` entries is a list of *runs* ([`IndexHead`]): each covers
//! consecutive entries and holds their (key, leaf index) [`Pair`]s sorted, committed by the
//! root of an RFC 6962 tree over chunks of [`CHUNK_PAIRS`] pairs. A [`KeyProof`] gives, for
//! every run, the chunks from the last pair below a key range to the first above it and the
//! hashes that tie them to the run's root: the pairs in between are all the run has of the
//! range. Which keys an entry has is a pure function of its event ([`keys_of_event`]); how the
//! entries are cut into runs is the writer's, committed in the head, so a monitor recomputes
//! each run from the log's entries and compares its root. The byte formats are in
//! `ledger/README.md` ("Verifiable index").

mod head;
mod keys;
mod memory;
pub mod monitor;
mod proof;
mod run;
#[cfg(test)]
mod tests;

pub use head::{
    CommitmentError, HEAD_VERSION, HeadError, INDEX_LINE_PREFIX, IndexCommitment, IndexHead,
    MAX_RUNS, RunHead,
};
pub(crate) use keys::{EPC_MEMBERS, LOT_NUMBER_NAMES, QUANTITY_MEMBERS, gtin_and_lot};
pub use keys::{
    IndexKey, KEY_HASH_LEN, KeyKind, KeyParseError, day_of, keys_of_event, keys_of_json,
    keys_of_parsed,
};
pub use memory::{MemoryIndex, MemoryRun};
pub use proof::{
    EmptyRange, KEY_PROOF_VERSION, KeyProof, KeyProofDecodeError, KeyProofError, KeyRange,
    ProveError, RunProof, RunProofError, RunSource, prove,
};
pub use run::{
    CHUNK_PAIRS, Frontier, PAIR_LEN, Pair, PairError, RangeProofError, RunTreeBuilder, Unsorted,
    chunk_count, chunk_hash, chunk_len, range_proof_spans, root_from_range, run_root, span_hash,
};
