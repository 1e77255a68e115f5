//! The index head: the runs that make up the index of a log's first entries, and its root.

use sha2::{Digest, Sha256};

use crate::hash::{HASH_LEN, Hash};
use crate::size::TreeSize;

/// The version byte of an encoded index head.
pub const HEAD_VERSION: u8 = 1;

/// The most runs a head may list. A writer merging runs of eight keeps far fewer (about
/// `7 × log8(steps)`); the bound keeps a decoder's work small.
pub const MAX_RUNS: usize = 1024;

/// The bytes of one run in an encoded head.
const RUN_LEN: usize = 8 + 8 + 8 + HASH_LEN;

/// The bytes before the runs: version, tree size, run count.
const HEAD_PREFIX_LEN: usize = 1 + 8 + 4;

/// The byte the index root's hash starts with: neither an RFC 6962 leaf (`0x00`) nor a node
/// (`0x01`).
const ROOT_DOMAIN: u8 = 0x02;

/// One run of the index: the pairs of entries `first..end`, sorted, `pairs` of them, committed
/// by `root` (see [`run_root`](crate::index::run_root)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunHead {
    pub first: u64,
    pub end: u64,
    pub pairs: u64,
    pub root: Hash,
}

/// The index of the first `size` entries of the log: runs that cover `0..size` in order,
/// without gaps or overlaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexHead {
    size: TreeSize,
    runs: Vec<RunHead>,
}

/// Why runs or bytes are not an index head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("the index head is empty")]
    Empty,
    #[error("index head version {0} is not known to this version of tagtrail (it reads version 1)")]
    UnknownVersion(u8),
    #[error("the index head is {found} bytes; its run count needs {wanted}")]
    WrongLength { found: usize, wanted: usize },
    #[error("the index head's tree size {0} is out of range")]
    BadSize(u64),
    #[error("the index head lists {0} runs; at most {MAX_RUNS} are read")]
    TooManyRuns(u64),
    #[error(
        "run {run} covers entries {first}..{end}; it should start at {expected} and hold at least one entry"
    )]
    BadCover {
        run: usize,
        first: u64,
        end: u64,
        expected: u64,
    },
    #[error("the runs end at entry {end}, not at the tree size {size}")]
    ShortCover { end: u64, size: u64 },
}

impl IndexHead {
    /// The head of runs covering `0..size`; fails unless each run starts where the previous
    /// ended (the first at 0), holds at least one entry, and the last ends at `size`.
    pub fn new(size: TreeSize, runs: Vec<RunHead>) -> Result<Self, HeadError> {
        if runs.len() > MAX_RUNS {
            return Err(HeadError::TooManyRuns(runs.len() as u64));
        }
        let mut expected = 0;
        for (run, head) in runs.iter().enumerate() {
            if head.first != expected || head.end <= head.first {
                return Err(HeadError::BadCover {
                    run,
                    first: head.first,
                    end: head.end,
                    expected,
                });
            }
            expected = head.end;
        }
        if expected != size.get() {
            return Err(HeadError::ShortCover {
                end: expected,
                size: size.get(),
            });
        }
        Ok(Self { size, runs })
    }

    /// How many entries the index covers.
    pub fn size(&self) -> TreeSize {
        self.size
    }

    /// The runs, in entry order.
    pub fn runs(&self) -> &[RunHead] {
        &self.runs
    }

    /// The encoded head (below, and `ledger/README.md`).
    ///
    /// ```text
    /// 1      version = 0x01
    /// 8      tree size covered, u64
    /// 4      run count r, u32 (at most 1024)
    /// 56 × r each run: first entry u64, end entry u64, pair count u64, root (32 bytes)
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEAD_PREFIX_LEN + RUN_LEN * self.runs.len());
        bytes.push(HEAD_VERSION);
        bytes.extend_from_slice(&self.size.get().to_be_bytes());
        // At most MAX_RUNS, checked by `new`.
        bytes.extend_from_slice(&(self.runs.len() as u32).to_be_bytes());
        for run in &self.runs {
            bytes.extend_from_slice(&run.first.to_be_bytes());
            bytes.extend_from_slice(&run.end.to_be_bytes());
            bytes.extend_from_slice(&run.pairs.to_be_bytes());
            bytes.extend_from_slice(run.root.as_bytes());
        }
        bytes
    }

    /// Reads an encoded head; refuses any other length, version, or cover.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeadError> {
        let (&version, _) = bytes.split_first().ok_or(HeadError::Empty)?;
        if version != HEAD_VERSION {
            return Err(HeadError::UnknownVersion(version));
        }
        if bytes.len() < HEAD_PREFIX_LEN {
            return Err(HeadError::WrongLength {
                found: bytes.len(),
                wanted: HEAD_PREFIX_LEN,
            });
        }
        let size = read_u64(&bytes[1..9]);
        let count = u64::from(u32::from_be_bytes([
            bytes[9], bytes[10], bytes[11], bytes[12],
        ]));
        if count > MAX_RUNS as u64 {
            return Err(HeadError::TooManyRuns(count));
        }
        let wanted = HEAD_PREFIX_LEN + RUN_LEN * count as usize;
        if bytes.len() != wanted {
            return Err(HeadError::WrongLength {
                found: bytes.len(),
                wanted,
            });
        }
        let size = TreeSize::new(size).map_err(|_| HeadError::BadSize(size))?;
        let runs = bytes[HEAD_PREFIX_LEN..]
            .chunks_exact(RUN_LEN)
            .map(|run| {
                let mut root = [0; HASH_LEN];
                root.copy_from_slice(&run[24..]);
                RunHead {
                    first: read_u64(&run[..8]),
                    end: read_u64(&run[8..16]),
                    pairs: read_u64(&run[16..24]),
                    root: Hash::from_bytes(root),
                }
            })
            .collect();
        Self::new(size, runs)
    }

    /// The index root: `SHA-256(0x02 || encoded head)`. A checkpoint commits to the index by
    /// this hash.
    pub fn root(&self) -> Hash {
        let digest = Sha256::new()
            .chain_update([ROOT_DOMAIN])
            .chain_update(self.encode())
            .finalize();
        let mut root = [0; HASH_LEN];
        root.copy_from_slice(&digest);
        Hash::from_bytes(root)
    }

    /// The run holding entry `leaf`, by position.
    pub fn run_of(&self, leaf: u64) -> Option<usize> {
        let position = self.runs.partition_point(|run| run.end <= leaf);
        (position < self.runs.len()).then_some(position)
    }
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut array = [0; 8];
    array.copy_from_slice(bytes);
    u64::from_be_bytes(array)
}

/// The first word of a checkpoint's extension line that commits to an index head.
pub const INDEX_LINE_PREFIX: &str = "tagtrail-index";

/// What a checkpoint commits to of the verifiable index: the size its head covers (at most the
/// checkpoint's tree size) and the head's [`IndexHead::root`]. Written as the checkpoint's one
/// extension line, `tagtrail-index <size> <base64 root>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexCommitment {
    pub size: TreeSize,
    pub root: Hash,
}

/// Why a checkpoint's extension lines are not one index commitment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentError {
    #[error("a checkpoint commits to the index with one extension line; this one has {0}")]
    LineCount(usize),
    #[error("the extension line is not `tagtrail-index <size> <base64 root>`: {0:?}")]
    NotAnIndexLine(String),
    #[error("the index covers {index} entries, more than the checkpoint's {tree}")]
    BeyondTree { index: u64, tree: u64 },
}

impl IndexCommitment {
    /// The commitment to `head`.
    pub fn of_head(head: &IndexHead) -> Self {
        Self {
            size: head.size(),
            root: head.root(),
        }
    }

    /// The extension line: `tagtrail-index <size> <base64 root>` (decimal without leading zeroes,
    /// standard padded base64).
    pub fn to_line(&self) -> String {
        format!(
            "{INDEX_LINE_PREFIX} {} {}",
            self.size.get(),
            self.root.to_base64()
        )
    }

    /// Reads an extension line; only its one spelling.
    pub fn parse_line(line: &str) -> Result<Self, CommitmentError> {
        let refuse = || CommitmentError::NotAnIndexLine(line.chars().take(120).collect());
        let mut words = line.split(' ');
        if words.next() != Some(INDEX_LINE_PREFIX) {
            return Err(refuse());
        }
        let (Some(size), Some(root), None) = (words.next(), words.next(), words.next()) else {
            return Err(refuse());
        };
        let canonical = !size.is_empty()
            && size.bytes().all(|byte| byte.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = canonical
            .then(|| size.parse::<u64>().ok())
            .flatten()
            .and_then(|size| TreeSize::new(size).ok())
            .ok_or_else(refuse)?;
        let root = Hash::parse_base64(root).map_err(|_| refuse())?;
        Ok(Self { size, root })
    }

    /// The commitment a checkpoint's extension lines make: none without lines, one from exactly
    /// one index line covering at most the checkpoint's tree; anything else is refused.
    pub fn of_checkpoint(
        checkpoint: &crate::checkpoint::Checkpoint,
    ) -> Result<Option<Self>, CommitmentError> {
        match checkpoint.extensions() {
            [] => Ok(None),
            [line] => {
                let commitment = Self::parse_line(line)?;
                if commitment.size > checkpoint.size() {
                    return Err(CommitmentError::BeyondTree {
                        index: commitment.size.get(),
                        tree: checkpoint.size().get(),
                    });
                }
                Ok(Some(commitment))
            }
            lines => Err(CommitmentError::LineCount(lines.len())),
        }
    }
}
