//! [`AuditProblem`]: what the audit found wrong, typed: the row it is about (an entry, a tile, a
//! device batch, a checkpoint, a signing key) and why, as data. `Display` words it for people
//! (`tagtrail audit` prints it).

use std::fmt;

use epcis::EventHash;
use epcis::hash::HashError;
use epcis::hex::encode_lower as hex;
use ledger::DeviceId;
use ledger::batch::{StatementError, StatementHash};
use ledger::checkpoint::CheckpointError;
use ledger::hash::RootHash;
use ledger::note::{AmbiguousKey, KeyParseError, NoteError};
use ledger::record::{EventDigest, RecordError};
use ledger::size::{PositionError, TreeSize};
use ledger::tiles::{EntryBundleError, FrontierError, MissingTile, TileId, TileIdError};
use ledger::tree::{ConsistencyError, WrongHashCount};

use crate::bundles::BundleRowError;

/// Something stored that does not hold, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProblem {
    /// An entry (its event, event hash or leaf record).
    Entry {
        leaf_index: u64,
        reason: EntryReason,
    },
    /// A stored tile row (`tile/<level>/<index>[.p/<width>]`; the numbers as stored, which need
    /// not make a tile id when the row is out of range).
    Tile {
        level: u8,
        index: u64,
        width: u16,
        reason: TileReason,
    },
    /// A stored device batch, by its statement hash.
    DeviceBatch {
        statement_hash: StatementHash,
        reason: BatchReason,
    },
    /// A stored checkpoint.
    Checkpoint {
        tree_size: u64,
        reason: CheckpointReason,
    },
    /// A stored signing key (its verifier key text, or `<name>+<id>`).
    SigningKey {
        key: String,
        reason: SigningKeyReason,
    },
}

/// Why an entry does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryReason {
    /// The entry bundle row that should hold the entry (and starts with it) does not hold its
    /// records.
    BundleRow {
        /// The row's `bundle_index`, `first` and `width`, as stored.
        bundle: i64,
        first: i16,
        width: i16,
        problem: BundleRowProblem,
    },
    /// The leaf record does not decode.
    MalformedRecord(RecordError),
    /// An entry bundle row holds entries from `from` again, up to this one.
    StoredTwice { from: u64 },
    /// No stored leaf record for this entry: the next one stored is `next_stored`.
    Missing { next_stored: u64 },
    /// The leaf records end before the log's events do (at `log_size`).
    MissingAtEnd { log_size: u64 },
    /// The leaf record is stored but the log's events end at `events_end`.
    RecordPastEvents { events_end: u64 },
    /// The entry's event is not stored; the next event stored is at `next_stored`, if any.
    EventMissing { next_stored: Option<i64> },
    /// An event is stored at `stored_at`, past the log's last entry (reported at the log's size).
    EventPastEnd { stored_at: i64 },
    /// The stored event hash is `bytes` long.
    EventHashLength { bytes: usize },
    /// The leaf record names event `named`, the event is stored under `stored`.
    EventHashNotNamed { named: EventHash, stored: EventHash },
    /// The stored event is not UTF-8.
    EventNotUtf8(std::str::Utf8Error),
    /// The stored event is not a JSON object (the JSON parser's message).
    EventNotJson { error: String },
    /// The stored event cannot be hashed.
    EventUnhashable(HashError),
    /// The stored event hashes to `computed`, not to the `stored` event hash.
    EventHashDiffers {
        computed: EventHash,
        stored: EventHash,
    },
    /// The stored event's bytes are not those the (version 2) leaf record commits to: a field the
    /// CBV 2.0 hash leaves out (`eventID`, `errorDeclaration`, the zone of a time) or the JSON's
    /// spelling was changed.
    EventBytesDiffer {
        committed: EventDigest,
        found: EventDigest,
    },
    /// The stored event carries `errorDeclaration` but no error declaration row names the entry.
    DeclarationNotRecorded,
    /// An error declaration row names the entry, but its stored event carries no
    /// `errorDeclaration`.
    NotADeclaration,
    /// The entry is an error declaration, but its leaf record is version 1 (the sequencer writes
    /// declarations with version 2 records only).
    DeclarationInVersion1,
    /// The entry is an error declaration of entry `declared`, which is not an earlier entry holding
    /// a plain event (it is this entry or later, or a declaration itself).
    DeclaresNoEarlierEvent { declared: u64 },
    /// The error declaration row of the entry names event hash `row`; the leaf record names
    /// `named`.
    DeclarationRowDiffers { named: EventHash, row: EventHash },
    /// The entry is declared erroneous by entry `declaration`, whose event hash is not this
    /// entry's.
    DeclaredByAnotherEvent { declaration: u64 },
    /// An error declaration is stored under a key other than its declaration key.
    DeclarationKeyDiffers,
    /// The entry's error declaration row says the log did not hold the declared event, but entry
    /// `held`, before it, holds that event.
    DeclaredEventWasHeld { held: u64 },
    /// An error declaration row names entry `declaration_leaf`, past the log's last entry
    /// (reported at the log's size).
    DeclarationPastEnd { declaration_leaf: u64 },
    /// The leaf record names a device batch that is not stored.
    BatchNotStored { statement: StatementHash },
    /// The leaf record's device, batch and index are not an event of the stored batch.
    NotInBatch {
        device: DeviceId,
        statement: StatementHash,
        index: u32,
    },
    /// The leaf hashes do not make a tree.
    Tree(FrontierError),
    /// The leaf record was changed: tile `tile` and the signed root of the checkpoint at
    /// `checkpoint` both disagree with it.
    LeafChanged { tile: TileId, checkpoint: u64 },
}

/// Why an entry bundle row does not hold its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleRowProblem {
    /// Its `bundle_index`, `first` or `width` is negative.
    NegativePosition,
    /// Its bytes are not an entry bundle.
    NotABundle(EntryBundleError),
    /// It holds `found` records where its first and width say `expected`.
    Count { expected: usize, found: usize },
}

impl From<BundleRowError> for BundleRowProblem {
    fn from(error: BundleRowError) -> Self {
        match error {
            BundleRowError::Malformed(error) => Self::NotABundle(error),
            BundleRowError::Count { expected, found } => Self::Count { expected, found },
        }
    }
}

/// Why a stored tile row does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileReason {
    /// Its level, index and width are not a tile.
    ImpossiblePosition(TileIdError),
    /// Its hashes cannot all exist in the tree.
    DoesNotFit,
    /// The rebuilt tree has no such tile at the size the row is read at.
    NotInTree,
    /// The tree has this full tile but no row stores it.
    MissingFull,
    /// The tree ends with this partial tile but no row stores it.
    MissingPartial,
    /// The row lies beyond the tree of `log_size` entries.
    BeyondTree { log_size: u64 },
    /// Stored hash `hash` differs from the one rebuilt from the leaf records (the leaves from
    /// `first_leaf`), and the signed root at `checkpoint` matches the leaf records: the tile
    /// was changed.
    Changed {
        hash: usize,
        first_leaf: u64,
        checkpoint: u64,
    },
    /// Stored hash `hash` differs from the one rebuilt from the leaf records (the leaves from
    /// `first_leaf`), and no later checkpoint tells whether the tile or the entry was changed.
    Differs { hash: usize, first_leaf: u64 },
}

/// Why a stored device batch does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchReason {
    /// The statement does not decode.
    MalformedStatement(StatementError),
    /// The statement hashes to `computed`, not to the hash it is stored under.
    StatementHashDiffers { computed: StatementHash },
    /// The signature is not an Ed25519 signature (its algorithm and length, as stored).
    NotEd25519 { algorithm: String, bytes: usize },
    /// Its event hashes are not the batch the statement commits to.
    EventsNotCommitted,
    /// The signature verifies under none of the `keys` keys the registry holds for `device`
    /// (`unparsable` of them not Ed25519 public keys).
    SignatureFails {
        device: DeviceId,
        keys: usize,
        unparsable: usize,
    },
    /// Its first leaf index is `first_leaf`, whose leaf record does not name it.
    NotNamedByFirstLeaf { first_leaf: u64 },
    /// Its first leaf index `first_leaf` is not the first entry holding one of its events.
    NotFirstEntry { first_leaf: u64 },
    /// Its first leaf index `first_leaf` is beyond the log.
    BeyondLog { first_leaf: i64 },
}

/// Why a stored checkpoint does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointReason {
    /// The tree never had this size when the entries were read.
    NeverThisSize,
    /// The note is not UTF-8.
    NoteNotUtf8(std::str::Utf8Error),
    /// The note is not a signed note.
    MalformedNote(NoteError),
    /// The note's text is not a checkpoint.
    NotACheckpoint(CheckpointError),
    /// The signed note does not verify under the stored signing keys.
    SignatureFails(CheckpointError),
    /// The stored size and root columns differ from the signed note's.
    ColumnsDiffer {
        signed_size: TreeSize,
        signed_root: RootHash,
    },
    /// The signed root differs from the root `rebuilt` from the entries: entries were changed
    /// after it was signed.
    RootDiffers { rebuilt: RootHash },
    /// The size is not a tree size.
    NotATreeSize(PositionError),
    /// It claims more entries than the `log_size` stored.
    BeyondLog { log_size: u64 },
    /// No consistency proof, from the stored tiles, leads to the next checkpoint at `next`.
    NoConsistencyProof {
        next: TreeSize,
        failure: ConsistencyFailure,
    },
}

/// Why a consistency proof between two checkpoints could not be read or does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsistencyFailure {
    /// A tile the proof needs is not stored (wide enough).
    MissingTile(MissingTile),
    /// The tiles gave the wrong number of hashes.
    WrongHashCount(WrongHashCount),
    /// The proof does not verify.
    Proof(ConsistencyError),
}

/// Why a stored signing key does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKeyReason {
    /// It is not a verifier key.
    NotAVerifierKey(KeyParseError),
    /// Two stored keys share a name and an id.
    Ambiguous(AmbiguousKey),
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Entry { leaf_index, reason } => write!(f, "entry {leaf_index}: {reason}"),
            Self::Tile {
                level,
                index,
                width,
                reason,
            } => match TileId::new(*level, *index, *width) {
                Ok(id) => write!(f, "tile {}: {reason}", id.path()),
                Err(_) => write!(
                    f,
                    "tile (level {level}, index {index}, width {width}): {reason}"
                ),
            },
            Self::DeviceBatch {
                statement_hash,
                reason,
            } => write!(
                f,
                "device batch {}: {reason}",
                hex(statement_hash.as_bytes())
            ),
            Self::Checkpoint { tree_size, reason } => {
                write!(f, "checkpoint at tree size {tree_size}: {reason}")
            }
            Self::SigningKey { key, reason } => write!(f, "signing key {key}: {reason}"),
        }
    }
}

impl fmt::Display for EntryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BundleRow {
                bundle,
                first,
                width,
                problem,
            } => write!(
                f,
                "its entry bundle row (bundle {bundle}, entries {first} to {width}) {problem}"
            ),
            Self::MalformedRecord(error) => write!(f, "the leaf record is malformed: {error}"),
            Self::StoredTwice { from } => write!(
                f,
                "stored twice: an entry bundle row holds entries from {from} again"
            ),
            Self::Missing { next_stored } => write!(
                f,
                "missing: the next stored leaf record is entry {next_stored}"
            ),
            Self::MissingAtEnd { log_size } => write!(
                f,
                "missing: the log has {log_size} entries but its leaf record is not stored"
            ),
            Self::RecordPastEvents { events_end } => write!(
                f,
                "its leaf record is stored but the log's events end at {events_end}"
            ),
            Self::EventMissing { next_stored: None } => {
                f.write_str("missing: its event is not stored")
            }
            Self::EventMissing {
                next_stored: Some(next),
            } => write!(f, "missing: its event is not stored (the next is {next})"),
            Self::EventPastEnd { stored_at } => write!(
                f,
                "an event is stored at leaf index {stored_at} past the log's last entry"
            ),
            Self::EventHashLength { bytes } => {
                write!(f, "the stored event hash is {bytes} bytes, not 32")
            }
            Self::EventHashNotNamed { named, stored } => write!(
                f,
                "the leaf record names event {} but the stored event hash is {}",
                named.to_hex(),
                stored.to_hex()
            ),
            Self::EventNotUtf8(error) => write!(f, "the stored event is not UTF-8: {error}"),
            Self::EventNotJson { error } => {
                write!(f, "the stored event is not a JSON object: {error}")
            }
            Self::EventUnhashable(error) => {
                write!(f, "the stored event cannot be hashed: {error}")
            }
            Self::EventHashDiffers { computed, stored } => write!(
                f,
                "the stored event hashes to {} but its stored event hash is {}",
                computed.to_hex(),
                stored.to_hex()
            ),
            Self::EventBytesDiffer { committed, found } => write!(
                f,
                "the stored event's bytes have SHA-256 {found} but the leaf record commits to \
                 {committed}: the stored event was changed"
            ),
            Self::DeclarationNotRecorded => f.write_str(
                "the stored event carries an errorDeclaration but no error declaration row names \
                 the entry",
            ),
            Self::NotADeclaration => f.write_str(
                "an error declaration row names the entry but its stored event carries no \
                 errorDeclaration",
            ),
            Self::DeclarationInVersion1 => f.write_str(
                "an error declaration row names the entry but its leaf record is version 1, \
                 which the sequencer never writes for a declaration",
            ),
            Self::DeclaresNoEarlierEvent { declared } => write!(
                f,
                "the entry's error declaration row names entry {declared}, which is not an earlier \
                 entry holding a plain event"
            ),
            Self::DeclarationRowDiffers { named, row } => write!(
                f,
                "the leaf record names event {} but the entry's error declaration row names {}",
                named.to_hex(),
                row.to_hex()
            ),
            Self::DeclaredByAnotherEvent { declaration } => write!(
                f,
                "entry {declaration} is recorded as an error declaration of this entry but names \
                 another event hash"
            ),
            Self::DeclarationKeyDiffers => f.write_str(
                "the error declaration is stored under a key other than its declaration key",
            ),
            Self::DeclaredEventWasHeld { held } => write!(
                f,
                "the entry's error declaration row says the log did not hold the declared event, \
                 but entry {held} holds it"
            ),
            Self::DeclarationPastEnd { declaration_leaf } => write!(
                f,
                "an error declaration row names entry {declaration_leaf}, past the log's last entry"
            ),
            Self::BatchNotStored { statement } => write!(
                f,
                "its leaf record names device batch {} which is not stored",
                hex(statement.as_bytes())
            ),
            Self::NotInBatch {
                device,
                statement,
                index,
            } => write!(
                f,
                "its leaf record says device {device}, batch {} index {index}, which the stored batch does not hold",
                hex(statement.as_bytes())
            ),
            Self::Tree(error) => error.fmt(f),
            Self::LeafChanged { tile, checkpoint } => write!(
                f,
                "its leaf record does not hash to what the log committed: tile {} and the signed root at {checkpoint} both disagree",
                tile.path()
            ),
        }
    }
}

impl fmt::Display for BundleRowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NegativePosition => f.write_str("has a negative position"),
            Self::NotABundle(error) => write!(f, "is not an entry bundle: {error}"),
            Self::Count { expected, found } => write!(
                f,
                "holds {found} records where its first and width say {expected}"
            ),
        }
    }
}

impl fmt::Display for TileReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ImpossiblePosition(error) => {
                write!(f, "the row has an impossible position: {error}")
            }
            Self::DoesNotFit => {
                f.write_str("the row does not fit the tree (its hashes cannot all exist)")
            }
            Self::NotInTree => f.write_str("the rebuilt tree has no such tile at this size"),
            Self::MissingFull => {
                f.write_str("missing: the tree has this full tile but no row stores it")
            }
            Self::MissingPartial => {
                f.write_str("missing: the tree ends with this partial tile but no row stores it")
            }
            Self::BeyondTree { log_size } => {
                write!(f, "the tile lies beyond the tree of {log_size} entries")
            }
            Self::Changed {
                hash,
                first_leaf,
                checkpoint,
            } => write!(
                f,
                "stored hash {hash} differs from the one rebuilt from the leaf records (leaves from {first_leaf}); the signed root at {checkpoint} matches the leaf records, so the tile was changed"
            ),
            Self::Differs { hash, first_leaf } => write!(
                f,
                "stored hash {hash} differs from the one rebuilt from the leaf records (leaves from {first_leaf}) (no later checkpoint tells whether the tile or entry {first_leaf} was changed)"
            ),
        }
    }
}

impl fmt::Display for BatchReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedStatement(error) => write!(f, "the statement is malformed: {error}"),
            Self::StatementHashDiffers { computed } => {
                write!(f, "the statement hashes to {}", hex(computed.as_bytes()))
            }
            Self::NotEd25519 { algorithm, bytes } => write!(
                f,
                "the signature is not an Ed25519 signature ({algorithm}, {bytes} bytes)"
            ),
            Self::EventsNotCommitted => {
                f.write_str("its event hashes are not the batch the statement commits to")
            }
            Self::SignatureFails {
                device,
                keys,
                unparsable,
            } => {
                write!(
                    f,
                    "its signature does not verify under any of the {keys} keys the registry holds for device {device}"
                )?;
                if *unparsable > 0 {
                    write!(f, " ({unparsable} of them not Ed25519 public keys)")?;
                }
                Ok(())
            }
            Self::NotNamedByFirstLeaf { first_leaf } => write!(
                f,
                "its first leaf index is {first_leaf}, whose leaf record does not name it"
            ),
            Self::NotFirstEntry { first_leaf } => write!(
                f,
                "its first leaf index {first_leaf} is not the first entry holding one of its events"
            ),
            Self::BeyondLog { first_leaf } => {
                write!(f, "its first leaf index {first_leaf} is beyond the log")
            }
        }
    }
}

impl fmt::Display for CheckpointReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NeverThisSize => {
                f.write_str("the tree never had this size when the entries were read")
            }
            Self::NoteNotUtf8(error) => write!(f, "the note is not UTF-8: {error}"),
            Self::MalformedNote(error) => write!(f, "the note is malformed: {error}"),
            Self::NotACheckpoint(error) => write!(f, "the note is not a checkpoint: {error}"),
            Self::SignatureFails(error) => {
                write!(f, "the signed note does not verify: {error}")
            }
            Self::ColumnsDiffer {
                signed_size,
                signed_root,
            } => write!(
                f,
                "the stored size and root differ from the signed note's ({signed_size} leaves, root {signed_root})"
            ),
            Self::RootDiffers { rebuilt } => write!(
                f,
                "the signed root differs from the root {rebuilt} rebuilt from the entries: entries were changed after it was signed"
            ),
            Self::NotATreeSize(error) => error.fmt(f),
            Self::BeyondLog { log_size } => {
                write!(f, "it claims more entries than the {log_size} stored")
            }
            Self::NoConsistencyProof { next, failure } => write!(
                f,
                "no consistency proof to the next checkpoint at {next}: {failure}"
            ),
        }
    }
}

impl fmt::Display for ConsistencyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingTile(error) => error.fmt(f),
            Self::WrongHashCount(error) => error.fmt(f),
            Self::Proof(error) => error.fmt(f),
        }
    }
}

impl fmt::Display for SigningKeyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAVerifierKey(error) => write!(f, "not a verifier key: {error}"),
            Self::Ambiguous(error) => error.fmt(f),
        }
    }
}
