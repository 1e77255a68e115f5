//! Key proofs: the complete list of the entries of one key (within a range of leaf indices),
//! proven run by run against an [`IndexHead`].

use crate::hash::{HASH_LEN, Hash, RootHash};

use super::head::IndexHead;
use super::keys::{IndexKey, KEY_HASH_LEN, KeyKind};
use super::run::{
    CHUNK_PAIRS, PAIR_LEN, Pair, PairError, RangeProofError, chunk_count, chunk_hash, chunk_len,
    range_proof_spans, root_from_range, span_hash,
};

/// The version byte of an encoded key proof.
pub const KEY_PROOF_VERSION: u8 = 1;

/// The most hashes one run's part may hold: two per level of a tree of `2^63` chunks.
const MAX_RUN_HASHES: usize = 128;

/// What a key proof is about: the entries of `key` with a leaf index in `from..to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    pub key: IndexKey,
    pub from: u64,
    pub to: u64,
}

impl KeyRange {
    /// Every entry of `key`.
    pub const fn all(key: IndexKey) -> Self {
        Self {
            key,
            from: 0,
            to: u64::MAX,
        }
    }

    fn below(&self) -> Pair {
        Pair::new(self.key, self.from)
    }

    fn above(&self) -> Pair {
        Pair::new(self.key, self.to)
    }

    fn holds(&self, pair: &Pair) -> bool {
        pair.key == self.key && (self.from..self.to).contains(&pair.leaf)
    }
}

/// One run's part of a key proof: chunks `lo..hi` of the run's tree, their pairs, and the
/// hashes that prove them (see [`range_proof_spans`]). Chunk `lo` holds the last pair below the
/// range (or is the run's first), chunk `hi - 1` the first pair above it (or is the run's last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunProof {
    pub lo: u64,
    pub hi: u64,
    pub pairs: Vec<Pair>,
    pub hashes: Vec<Hash>,
}

/// The proof that an index lists exactly some entries for a key range: one part per run of the
/// head, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProof {
    pub range: KeyRange,
    pub runs: Vec<RunProof>,
}

/// Why bytes are not a key proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProofDecodeError {
    #[error("the key proof is empty")]
    Empty,
    #[error("key proof version {0} is not known to this version of tagtrail (it reads version 1)")]
    UnknownVersion(u8),
    #[error("the key proof ends early, in {0}")]
    Truncated(&'static str),
    #[error("the key proof has {0} bytes after its last run")]
    TrailingBytes(usize),
    #[error("key kind {0} is not known to this version of tagtrail (it knows kinds 1 to 5)")]
    UnknownKind(u8),
    #[error("the key proof lists {0} runs; an index head lists at most 1024")]
    TooManyRuns(u64),
    #[error("run {run}'s part has {hashes} hashes; a part has at most {MAX_RUN_HASHES}")]
    TooManyHashes { run: usize, hashes: u64 },
    #[error("pair {pair} of run {run}'s part: {error}")]
    Pair {
        run: usize,
        pair: usize,
        error: PairError,
    },
}

/// Why a key proof does not prove a list against an index head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProofError {
    #[error("the range {from}..{to} of leaf indices is empty")]
    EmptyRange { from: u64, to: u64 },
    #[error("the proof has parts for {given} runs; the index head lists {wanted}")]
    RunCount { given: usize, wanted: usize },
    #[error("run {run} (entries {first}..{end}): {why}")]
    Run {
        run: usize,
        first: u64,
        end: u64,
        why: RunProofError,
    },
}

/// Why one run's part of a key proof fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunProofError {
    #[error("the run holds no pairs, yet its root is not the empty tree's")]
    EmptyRunRoot,
    #[error("the run holds no pairs; its part must give chunks 0..0 and nothing else")]
    EmptyRunPart,
    #[error("chunks {lo}..{hi} are not a non-empty range of the run's {chunks} chunks")]
    ChunkRange { lo: u64, hi: u64, chunks: u64 },
    #[error("the part gives {given} pairs; chunks {lo}..{hi} hold {wanted}")]
    PairCount {
        lo: u64,
        hi: u64,
        given: usize,
        wanted: u64,
    },
    #[error(
        "pair {0} of the part is not above the one before it: a run is sorted, without duplicates"
    )]
    Unsorted(usize),
    #[error("pair {pair} names entry {leaf}, outside the run")]
    LeafOutside { pair: usize, leaf: u64 },
    #[error(
        "chunk {0} is not the run's first, yet the part shows no pair below the range, so earlier chunks may hold some of its entries"
    )]
    NoPairBelow(u64),
    #[error(
        "chunk {hi} is not past the run's last, yet the part shows no pair above the range, so later chunks may hold some of its entries"
    )]
    NoPairAbove { hi: u64 },
    #[error("the part gives more chunks than the proof needs")]
    NotMinimal,
    #[error("{0}")]
    Range(#[from] RangeProofError),
    #[error("the chunks and hashes give root {computed}, not the run's root {committed}")]
    RootMismatch { computed: String, committed: String },
}

impl KeyProof {
    /// The encoded proof (below, and `ledger/README.md`).
    ///
    /// ```text
    /// 1   version = 0x01
    /// 1   key kind
    /// 8   key hash
    /// 8   from leaf index, u64
    /// 8   to leaf index, u64 (exclusive)
    /// 4   run count r, u32
    /// r × part: lo chunk u64, hi chunk u64, pair count n u32, hash count h u8,
    ///           n pairs (17 bytes each), h hashes (32 bytes each)
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.push(KEY_PROOF_VERSION);
        bytes.push(self.range.key.kind().code());
        bytes.extend_from_slice(self.range.key.hash());
        bytes.extend_from_slice(&self.range.from.to_be_bytes());
        bytes.extend_from_slice(&self.range.to.to_be_bytes());
        bytes.extend_from_slice(&count_u32(self.runs.len()).to_be_bytes());
        for run in &self.runs {
            bytes.extend_from_slice(&run.lo.to_be_bytes());
            bytes.extend_from_slice(&run.hi.to_be_bytes());
            bytes.extend_from_slice(&count_u32(run.pairs.len()).to_be_bytes());
            bytes.push(u8::try_from(run.hashes.len()).unwrap_or(u8::MAX));
            for pair in &run.pairs {
                bytes.extend_from_slice(&pair.to_bytes());
            }
            for hash in &run.hashes {
                bytes.extend_from_slice(hash.as_bytes());
            }
        }
        bytes
    }

    /// Reads an encoded proof; refuses any other version, a truncated or over-long text, and
    /// counts beyond the bounds.
    pub fn decode(bytes: &[u8]) -> Result<Self, KeyProofDecodeError> {
        let (&version, _) = bytes.split_first().ok_or(KeyProofDecodeError::Empty)?;
        if version != KEY_PROOF_VERSION {
            return Err(KeyProofDecodeError::UnknownVersion(version));
        }
        let mut reader = Reader { bytes: &bytes[1..] };
        let kind = reader.take(1, "the key")?[0];
        let kind = KeyKind::from_code(kind).ok_or(KeyProofDecodeError::UnknownKind(kind))?;
        let mut hash = [0; KEY_HASH_LEN];
        hash.copy_from_slice(reader.take(KEY_HASH_LEN, "the key")?);
        let range = KeyRange {
            key: IndexKey::from_parts(kind, hash),
            from: reader.u64("the range")?,
            to: reader.u64("the range")?,
        };
        let count = u64::from(reader.u32("the run count")?);
        if count > super::head::MAX_RUNS as u64 {
            return Err(KeyProofDecodeError::TooManyRuns(count));
        }
        let mut runs = Vec::with_capacity(count as usize);
        for run in 0..count as usize {
            let lo = reader.u64("a run's part")?;
            let hi = reader.u64("a run's part")?;
            let pair_count = reader.u32("a run's part")? as usize;
            let hash_count = reader.take(1, "a run's part")?[0];
            if usize::from(hash_count) > MAX_RUN_HASHES {
                return Err(KeyProofDecodeError::TooManyHashes {
                    run,
                    hashes: u64::from(hash_count),
                });
            }
            let pair_bytes = reader.take_many(pair_count, PAIR_LEN, "a run's pairs")?;
            let pairs = pair_bytes
                .chunks_exact(PAIR_LEN)
                .enumerate()
                .map(|(pair, bytes)| {
                    let mut array = [0; PAIR_LEN];
                    array.copy_from_slice(bytes);
                    Pair::from_bytes(&array).map_err(|error| KeyProofDecodeError::Pair {
                        run,
                        pair,
                        error,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let hash_bytes =
                reader.take_many(usize::from(hash_count), HASH_LEN, "a run's hashes")?;
            let hashes = hash_bytes
                .chunks_exact(HASH_LEN)
                .map(|bytes| {
                    let mut array = [0; HASH_LEN];
                    array.copy_from_slice(bytes);
                    Hash::from_bytes(array)
                })
                .collect();
            runs.push(RunProof {
                lo,
                hi,
                pairs,
                hashes,
            });
        }
        if !reader.bytes.is_empty() {
            return Err(KeyProofDecodeError::TrailingBytes(reader.bytes.len()));
        }
        Ok(Self { range, runs })
    }

    /// Checks the proof against an index head and gives the leaf indices the index lists for
    /// the key within `from..to` (and below the head's size), in order. Every entry of the key in
    /// that range is in the list, as far as the head's runs are the sorted pairs of their
    /// entries (which a monitor checks by recomputing them from the log).
    pub fn verify(&self, head: &IndexHead) -> Result<Vec<u64>, KeyProofError> {
        let range = &self.range;
        if let Err(EmptyRange { from, to }) = range.check() {
            return Err(KeyProofError::EmptyRange { from, to });
        }
        if self.runs.len() != head.runs().len() {
            return Err(KeyProofError::RunCount {
                given: self.runs.len(),
                wanted: head.runs().len(),
            });
        }
        let mut leaves = Vec::new();
        for (run, (part, committed)) in self.runs.iter().zip(head.runs()).enumerate() {
            verify_run(range, part, committed, &mut leaves).map_err(|why| KeyProofError::Run {
                run,
                first: committed.first,
                end: committed.end,
                why,
            })?;
        }
        Ok(leaves)
    }
}

fn count_u32(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

fn verify_run(
    range: &KeyRange,
    part: &RunProof,
    committed: &super::head::RunHead,
    leaves: &mut Vec<u64>,
) -> Result<(), RunProofError> {
    let chunks = chunk_count(committed.pairs);
    if chunks == 0 {
        if part.lo != 0 || part.hi != 0 || !part.pairs.is_empty() || !part.hashes.is_empty() {
            return Err(RunProofError::EmptyRunPart);
        }
        if committed.root != *RootHash::empty().hash() {
            return Err(RunProofError::EmptyRunRoot);
        }
        return Ok(());
    }
    let (lo, hi) = (part.lo, part.hi);
    if lo >= hi || hi > chunks {
        return Err(RunProofError::ChunkRange { lo, hi, chunks });
    }
    // Every chunk but the run's last holds CHUNK_PAIRS; hi <= chunks, so nothing overflows.
    let chunk = CHUNK_PAIRS as u64;
    let wanted = (hi * chunk).min(committed.pairs) - lo * chunk;
    if part.pairs.len() as u64 != wanted {
        return Err(RunProofError::PairCount {
            lo,
            hi,
            given: part.pairs.len(),
            wanted,
        });
    }
    for (index, pair) in part.pairs.iter().enumerate() {
        if index > 0 && part.pairs[index - 1] >= *pair {
            return Err(RunProofError::Unsorted(index));
        }
        if !(committed.first..committed.end).contains(&pair.leaf) {
            return Err(RunProofError::LeafOutside {
                pair: index,
                leaf: pair.leaf,
            });
        }
    }
    let below = part.pairs.partition_point(|pair| *pair < range.below());
    let above = part.pairs.len() - part.pairs.partition_point(|pair| *pair < range.above());
    if lo > 0 && below == 0 {
        return Err(RunProofError::NoPairBelow(lo));
    }
    if hi < chunks && above == 0 {
        return Err(RunProofError::NoPairAbove { hi });
    }
    // The last pair below the range is in the first chunk given, the first above it in the last.
    if below > chunk_len(committed.pairs, lo) || above > chunk_len(committed.pairs, hi - 1) {
        return Err(RunProofError::NotMinimal);
    }
    let chunk_hashes: Vec<Hash> = part.pairs.chunks(CHUNK_PAIRS).map(chunk_hash).collect();
    let root = root_from_range(chunks, lo, hi, &chunk_hashes, &part.hashes)?;
    if root.hash() != &committed.root {
        return Err(RunProofError::RootMismatch {
            computed: root.hash().to_hex(),
            committed: committed.root.to_hex(),
        });
    }
    leaves.extend(
        part.pairs
            .iter()
            .filter(|pair| range.holds(pair))
            .map(|pair| pair.leaf),
    );
    Ok(())
}

/// Where a prover reads a run's pairs and the hashes of its tree.
pub trait RunSource {
    type Error;

    /// The position in run `run` of its first pair not below `pair`.
    fn lower_bound(&mut self, run: usize, pair: &Pair) -> Result<u64, Self::Error>;

    /// The pairs at positions `start..end` of run `run`.
    fn pairs(&mut self, run: usize, start: u64, end: u64) -> Result<Vec<Pair>, Self::Error>;

    /// The hash of the complete subtree of run `run`'s tree of `2^level` chunks from chunk
    /// `index * 2^level`.
    fn node(&mut self, run: usize, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// A key range without leaf indices: `from` is not below `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the range {from}..{to} of leaf indices is empty")]
pub struct EmptyRange {
    pub from: u64,
    pub to: u64,
}

impl KeyRange {
    /// Fails when the range holds no leaf index.
    pub fn check(&self) -> Result<(), EmptyRange> {
        if self.from < self.to {
            Ok(())
        } else {
            Err(EmptyRange {
                from: self.from,
                to: self.to,
            })
        }
    }
}

/// Why a proof could not be made.
#[derive(Debug)]
pub enum ProveError<E> {
    /// The range asked for is empty.
    EmptyRange(EmptyRange),
    /// The source of the runs failed.
    Source(E),
}

/// The proof of a key range against `head`, reading the runs from `source`.
pub fn prove<S: RunSource>(
    head: &IndexHead,
    range: KeyRange,
    source: &mut S,
) -> Result<KeyProof, ProveError<S::Error>> {
    range.check().map_err(ProveError::EmptyRange)?;
    prove_checked(head, range, source).map_err(ProveError::Source)
}

fn prove_checked<S: RunSource>(
    head: &IndexHead,
    range: KeyRange,
    source: &mut S,
) -> Result<KeyProof, S::Error> {
    let mut runs = Vec::with_capacity(head.runs().len());
    for (run, committed) in head.runs().iter().enumerate() {
        let chunks = chunk_count(committed.pairs);
        if chunks == 0 {
            runs.push(RunProof {
                lo: 0,
                hi: 0,
                pairs: Vec::new(),
                hashes: Vec::new(),
            });
            continue;
        }
        let first_in = source.lower_bound(run, &range.below())?;
        let first_above = source.lower_bound(run, &range.above())?;
        let chunk = CHUNK_PAIRS as u64;
        let lo = first_in.saturating_sub(1) / chunk;
        let hi = if first_above < committed.pairs {
            first_above / chunk + 1
        } else {
            chunks
        };
        let pairs = source.pairs(run, lo * chunk, (hi * chunk).min(committed.pairs))?;
        let hashes = range_proof_spans(chunks, lo, hi)
            .into_iter()
            .map(|(start, end)| {
                span_hash(start, end, &mut |level, index| {
                    source.node(run, level, index)
                })
            })
            .collect::<Result<_, _>>()?;
        runs.push(RunProof {
            lo,
            hi,
            pairs,
            hashes,
        });
    }
    Ok(KeyProof { range, runs })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], KeyProofDecodeError> {
        if self.bytes.len() < len {
            return Err(KeyProofDecodeError::Truncated(what));
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    fn take_many(
        &mut self,
        count: usize,
        each: usize,
        what: &'static str,
    ) -> Result<&'a [u8], KeyProofDecodeError> {
        let len = count
            .checked_mul(each)
            .ok_or(KeyProofDecodeError::Truncated(what))?;
        self.take(len, what)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, KeyProofDecodeError> {
        let mut array = [0; 8];
        array.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(array))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, KeyProofDecodeError> {
        let mut array = [0; 4];
        array.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_be_bytes(array))
    }
}
