//! The checking thread's work, pure: given the rows in log order (decoded entries, events, tile
//! rows, checked device batches and checkpoint rows) it rebuilds the tree, checks every row against
//! it and names the first problem. It reads its rows from iterators ([`Source`]): the database
//! streams in an audit, rows built in memory in the tests below.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::iter::Peekable;

use epcis::EventHash;
use ledger::batch::StatementHash;
use ledger::checkpoint::{Checkpoint, Origin, TrustedLog};
use ledger::hash::{Hash, RootHash};
use ledger::note::{Note, NoteVerifierKey, NoteVerifiers};
use ledger::record::{Attestation, LeafRecord};
use ledger::size::TreeSize;
use ledger::tiles::{TILE_WIDTH, Tile, TileFrontier, TileId};

use crate::copy::CopyRow;

use super::batches::{PrefixHasher, PreparedBatch, SignatureVerdict, stored_statement_hash};
use super::declarations::Declarations;
use super::decode::DecodedEntry;
use super::hashers::{EventCheck, EventHashers};
use super::problem::{
    AuditProblem, BatchReason, CheckpointReason, EntryReason, SigningKeyReason, TileReason,
};
use super::report::{AuditOptions, AuditProgress, AuditReport};

/// Events handed to the hashing threads at once, and the leaf hashes collected before the tiles
/// are brought up to date, at first.
const CHUNK: usize = 4096;
/// The most leaves hashed before the tiles are brought up to date even without a tile row due.
const MAX_SEGMENT: u64 = 1 << 16;

/// Where the checker's rows come from, each kind in the order it needs them.
pub(super) trait Source {
    /// Chunks of decoded entries, in leaf order.
    type Entries: Iterator<Item = Vec<DecodedEntry>>;
    /// Event rows `(leaf_index, event_hash, event)`, in leaf order.
    type Events: Iterator<Item = CopyRow>;
    /// Tile rows `(level, tile_index, width, hashes)`, in the order the rebuilt tree reaches them
    /// (by the tree size at which the row's last hash came into being, lower levels first).
    type Tiles: Iterator<Item = CopyRow>;
    /// Device batch rows, checked on their own, by first leaf index.
    type Batches: Iterator<Item = PreparedBatch>;
    /// Checkpoint rows `(tree_size, root_hash, note)`, by tree size.
    type Checkpoints: Iterator<Item = CopyRow>;
}

/// The checker's rows.
pub(super) struct Inputs<S: Source> {
    entries: S::Entries,
    /// The events, when their hashes are recomputed.
    events: Option<S::Events>,
    tiles: Peekable<S::Tiles>,
    batches: Peekable<S::Batches>,
    checkpoints: Peekable<S::Checkpoints>,
    declarations: Declarations,
}

impl<S: Source> Inputs<S> {
    pub(super) fn new(
        entries: S::Entries,
        events: Option<S::Events>,
        tiles: S::Tiles,
        batches: S::Batches,
        checkpoints: S::Checkpoints,
        declarations: Declarations,
    ) -> Self {
        Self {
            entries,
            events,
            tiles: tiles.peekable(),
            batches: batches.peekable(),
            checkpoints: checkpoints.peekable(),
            declarations,
        }
    }
}

/// What the checking thread hands back.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) report: AuditReport,
    /// The verified checkpoints (size, root), in order, for the consistency proofs.
    pub(super) checkpoints: Vec<(TreeSize, RootHash)>,
}

/// A problem and where in the log it lies (to keep the first).
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub(super) position: u64,
    pub(super) problem: AuditProblem,
}

fn tile_problem(position: u64, id: TileId, reason: TileReason) -> Found {
    Found {
        position,
        problem: AuditProblem::Tile {
            level: id.level(),
            index: id.index(),
            width: id.width(),
            reason,
        },
    }
}

pub(super) fn entry_problem(leaf_index: u64, reason: EntryReason) -> Found {
    Found {
        position: leaf_index,
        problem: AuditProblem::Entry { leaf_index, reason },
    }
}

fn batch_problem(position: u64, statement_hash: StatementHash, reason: BatchReason) -> Found {
    Found {
        position,
        problem: AuditProblem::DeviceBatch {
            statement_hash,
            reason,
        },
    }
}

fn checkpoint_problem(position: u64, tree_size: u64, reason: CheckpointReason) -> Found {
    Found {
        position,
        problem: AuditProblem::Checkpoint { tree_size, reason },
    }
}

/// The earlier of two problems (the first one on a tie).
pub(super) fn earliest(a: Option<Found>, b: Option<Found>) -> Option<Found> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.position < a.position { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// A tile row that disagrees with the rebuilt tree, until a signed checkpoint says which is wrong.
struct Suspect {
    id: TileId,
    /// The position in the tile of the first disagreeing hash.
    hash: usize,
    /// The first leaf under the first disagreeing hash.
    first_leaf: u64,
}

/// A device batch whose leaves may still come.
struct ActiveBatch {
    device: String,
    hashes: Vec<u8>,
    end: u64,
}

/// The state of the checking thread.
struct Checker<'a, S: Source> {
    size: u64,
    position: u64,
    /// The entry count at which the tiles are next brought up to date.
    boundary: u64,
    frontier: TileFrontier,
    segment: Vec<Hash>,
    inputs: Inputs<S>,
    trusted: Option<TrustedLog>,
    verifiers: Option<NoteVerifiers>,
    active: HashMap<[u8; 32], ActiveBatch, BuildHasherDefault<PrefixHasher>>,
    /// The last tile row checked at each level (to require the final partial tiles).
    last_row: Vec<Option<TileId>>,
    suspect: Option<Suspect>,
    checkpoints: Vec<(TreeSize, RootHash)>,
    report: AuditReport,
    progress: &'a dyn AuditProgress,
}

/// Runs all checks on the rows of a log of `size` entries (where its events end) as they arrive,
/// with the stored checkpoint `keys` (verifier keys, as text).
pub(super) fn check<S: Source>(
    size: u64,
    keys: Vec<String>,
    options: AuditOptions,
    inputs: Inputs<S>,
    progress: &dyn AuditProgress,
) -> Outcome {
    let mut checker = Checker {
        size,
        position: 0,
        boundary: 0,
        frontier: TileFrontier::new(),
        segment: Vec::with_capacity(CHUNK),
        inputs,
        trusted: None,
        verifiers: None,
        active: HashMap::default(),
        last_row: Vec::new(),
        suspect: None,
        checkpoints: Vec::new(),
        report: AuditReport {
            entries: 0,
            tiles: 0,
            device_batches: 0,
            device_signatures_verified: 0,
            unregistered_device_batches: 0,
            checkpoints: 0,
            error_declarations: 0,
            version_1_entries: 0,
            event_hashes_recomputed: options.recompute_event_hashes,
            problem: None,
        },
        progress,
    };
    let structural = match checker.load_keys(keys) {
        Err(found) => Some(found),
        Ok(()) => {
            let hashers = EventHashers::start(options);
            let found = checker.run(&hashers).err();
            let event_problem = hashers.finish();
            earliest(found, event_problem)
        }
    };
    checker.report.problem = structural.map(|found| found.problem);
    Outcome {
        report: checker.report,
        checkpoints: checker.checkpoints,
    }
}

impl<S: Source> Checker<'_, S> {
    fn load_keys(&mut self, keys: Vec<String>) -> Result<(), Found> {
        let mut parsed = Vec::with_capacity(keys.len());
        for key in keys {
            match NoteVerifierKey::parse(&key) {
                Ok(verifier) => parsed.push(verifier),
                Err(error) => {
                    return Err(Found {
                        position: 0,
                        problem: AuditProblem::SigningKey {
                            key,
                            reason: SigningKeyReason::NotAVerifierKey(error),
                        },
                    });
                }
            }
        }
        let verifiers = NoteVerifiers::new(parsed).map_err(|error| Found {
            position: 0,
            problem: AuditProblem::SigningKey {
                key: format!("{}+{}", error.name, error.id),
                reason: SigningKeyReason::Ambiguous(error),
            },
        })?;
        self.verifiers = Some(verifiers);
        Ok(())
    }

    fn run(&mut self, hashers: &EventHashers) -> Result<(), Found> {
        self.check_checkpoints_at(0)?;
        self.boundary = self.next_boundary();
        let mut events = Vec::with_capacity(CHUNK);
        while let Some(chunk) = self.inputs.entries.next() {
            for entry in &chunk {
                self.entry(entry, &mut events)?;
                if events.len() == CHUNK {
                    hashers.submit(std::mem::replace(&mut events, Vec::with_capacity(CHUNK)));
                }
            }
            self.report.entries = self.position;
            self.progress.advanced(self.position);
            if let Some(found) = hashers.first_problem()
                && found.position < self.position
            {
                return Ok(());
            }
        }
        if !events.is_empty() {
            hashers.submit(events);
        }
        if self.position != self.size {
            return Err(entry_problem(
                self.position,
                EntryReason::MissingAtEnd {
                    log_size: self.size,
                },
            ));
        }
        if let Some(declaration_leaf) = self.inputs.declarations.first_past(self.size) {
            return Err(entry_problem(
                self.size,
                EntryReason::DeclarationPastEnd { declaration_leaf },
            ));
        }
        if let Some(row) = self.inputs.events.as_mut().and_then(Iterator::next) {
            return Err(entry_problem(
                self.position,
                EntryReason::EventPastEnd {
                    stored_at: row.int8(0),
                },
            ));
        }
        self.flush()?;
        self.finish_tiles()?;
        self.finish_batches()?;
        self.finish_checkpoints()?;
        if let Some(suspect) = self.suspect.take() {
            return Err(tile_problem(
                suspect.first_leaf,
                suspect.id,
                TileReason::Differs {
                    hash: suspect.hash,
                    first_leaf: suspect.first_leaf,
                },
            ));
        }
        Ok(())
    }

    /// Checks one entry (with its event, when events are read: the event row goes to `events`,
    /// to have its hash recomputed) and adds its leaf hash to the tree.
    fn entry(&mut self, entry: &DecodedEntry, events: &mut Vec<EventCheck>) -> Result<(), Found> {
        let expected = self.position;
        let leaf = entry.leaf_index;
        if leaf != expected {
            return Err(entry_problem(
                expected,
                if leaf < expected {
                    EntryReason::StoredTwice { from: leaf }
                } else {
                    EntryReason::Missing { next_stored: leaf }
                },
            ));
        }
        if leaf >= self.size {
            return Err(entry_problem(
                leaf,
                EntryReason::RecordPastEvents {
                    events_end: self.size,
                },
            ));
        }
        let record = entry
            .record
            .as_ref()
            .map_err(|reason| entry_problem(expected, reason.clone()))?;
        if record.event_digest().is_none() {
            self.report.version_1_entries += 1;
        }
        let declaration = self.check_declarations(expected, record)?;
        if let Some(rows) = self.inputs.events.as_mut() {
            let row = rows.next().ok_or_else(|| {
                entry_problem(expected, EntryReason::EventMissing { next_stored: None })
            })?;
            let stored_leaf = row.int8(0);
            if u64::try_from(stored_leaf).ok() != Some(expected) {
                return Err(entry_problem(
                    expected,
                    EntryReason::EventMissing {
                        next_stored: Some(stored_leaf),
                    },
                ));
            }
            // A version 2 entry's stored key (its event hash, or a declaration's key) is checked
            // by the hashing threads, which know from the event which it must be.
            if record.event_digest().is_none() {
                self.check_event_hash(expected, record, row.bytes(1))?;
            }
            events.push(EventCheck {
                row,
                event_hash: *record.event_hash().as_bytes(),
                digest: record.event_digest().copied(),
                declaration,
            });
        }
        self.check_attestation(expected, record)?;
        self.segment.push(entry.leaf_hash);
        self.position += 1;
        if self.position >= self.boundary {
            self.flush()?;
            self.boundary = self.next_boundary();
        }
        Ok(())
    }

    /// Checks the entry against the error declaration rows: those declaring it erroneous must name
    /// its event hash; if it is a declaration itself, its record must be version 2 and name the
    /// row's event hash, and the entry it declares must be earlier and not a declaration (or, when
    /// the row says the log did not hold the event, no earlier entry may hold it). Returns whether
    /// it is a declaration.
    fn check_declarations(&mut self, leaf: u64, record: &LeafRecord) -> Result<bool, Found> {
        let declarations = &self.inputs.declarations;
        let hash = record.event_hash().as_bytes();
        if let Some((declaration, _)) = declarations.of(leaf).iter().find(|(_, row)| row != hash) {
            return Err(entry_problem(
                leaf,
                EntryReason::DeclaredByAnotherEvent {
                    declaration: *declaration,
                },
            ));
        }
        let Some(row) = declarations.declaration(leaf) else {
            // A plain event: no declaration after it may say the log did not hold it.
            if let Some(declaration) = declarations.unheld_after(hash, leaf) {
                return Err(entry_problem(
                    declaration,
                    EntryReason::DeclaredEventWasHeld { held: leaf },
                ));
            }
            return Ok(false);
        };
        if record.event_digest().is_none() {
            return Err(entry_problem(leaf, EntryReason::DeclarationInVersion1));
        }
        if &row.event_hash != hash {
            return Err(entry_problem(
                leaf,
                EntryReason::DeclarationRowDiffers {
                    named: *record.event_hash(),
                    row: EventHash::from_bytes(row.event_hash),
                },
            ));
        }
        if let Some(declared) = row.declared
            && (declared >= leaf || declarations.declaration(declared).is_some())
        {
            return Err(entry_problem(
                leaf,
                EntryReason::DeclaresNoEarlierEvent { declared },
            ));
        }
        self.report.error_declarations += 1;
        Ok(true)
    }

    /// Checks that a version 1 entry's stored event hash is the one its leaf record names.
    fn check_event_hash(
        &self,
        expected: u64,
        record: &LeafRecord,
        stored_hash: &[u8],
    ) -> Result<(), Found> {
        let stored_hash = <[u8; 32]>::try_from(stored_hash).map_err(|_| {
            entry_problem(
                expected,
                EntryReason::EventHashLength {
                    bytes: stored_hash.len(),
                },
            )
        })?;
        if record.event_hash().as_bytes() != &stored_hash {
            return Err(entry_problem(
                expected,
                EntryReason::EventHashNotNamed {
                    named: *record.event_hash(),
                    stored: EventHash::from_bytes(stored_hash),
                },
            ));
        }
        Ok(())
    }

    /// Checks that a device-attested record names a stored batch that holds its event.
    fn check_attestation(&mut self, leaf: u64, record: &LeafRecord) -> Result<(), Found> {
        let starting = self.load_batches_up_to(leaf)?;
        let named = match record.attestation() {
            Attestation::Device { statement, .. } => Some(*statement.as_bytes()),
            Attestation::Unattested { .. } => None,
        };
        if let Some(starting) = starting
            && named != Some(starting)
        {
            return Err(batch_problem(
                leaf,
                StatementHash::from_bytes(starting),
                BatchReason::NotNamedByFirstLeaf { first_leaf: leaf },
            ));
        }
        let Attestation::Device {
            device,
            statement,
            index,
        } = record.attestation()
        else {
            return Ok(());
        };
        let Some(batch) = self.active.get(statement.as_bytes()) else {
            return Err(entry_problem(
                leaf,
                EntryReason::BatchNotStored {
                    statement: *statement,
                },
            ));
        };
        let at = usize::try_from(*index)
            .unwrap_or(usize::MAX)
            .saturating_mul(32);
        let in_batch = batch.hashes.get(at..at.saturating_add(32));
        if batch.device != device.as_str()
            || in_batch != Some(record.event_hash().as_bytes().as_slice())
        {
            return Err(entry_problem(
                leaf,
                EntryReason::NotInBatch {
                    device: device.clone(),
                    statement: *statement,
                    index: *index,
                },
            ));
        }
        Ok(())
    }

    /// Loads (and checks) the device batches whose first leaf is at or before `leaf`, and forgets
    /// those whose leaves are all behind. Returns the statement hash of the batch starting at
    /// `leaf`, if one does.
    fn load_batches_up_to(&mut self, leaf: u64) -> Result<Option<[u8; 32]>, Found> {
        let mut starting = None;
        loop {
            let due = self
                .inputs
                .batches
                .peek()
                .is_some_and(|batch| u64::try_from(batch.row.int8(5)).unwrap_or(0) <= leaf);
            if !due {
                break;
            }
            let Some(batch) = self.inputs.batches.next() else {
                break;
            };
            starting = Some(self.load_batch(batch, leaf)?);
        }
        if self.active.len() > 64 {
            self.active.retain(|_, batch| batch.end > leaf);
        }
        Ok(starting)
    }

    fn load_batch(&mut self, batch: PreparedBatch, leaf: u64) -> Result<[u8; 32], Found> {
        let first = u64::try_from(batch.row.int8(5)).unwrap_or(0);
        self.report.device_batches += 1;
        let checked = match batch.checked {
            Ok(checked) => checked,
            Err(reason) => {
                return Err(batch_problem(
                    first,
                    stored_statement_hash(&batch.row),
                    reason,
                ));
            }
        };
        match checked.signature {
            SignatureVerdict::Verified => self.report.device_signatures_verified += 1,
            SignatureVerdict::Unregistered => self.report.unregistered_device_batches += 1,
        }
        if first != leaf {
            // Batches are loaded when the entries reach their first leaf, which must name them.
            return Err(batch_problem(
                first,
                StatementHash::from_bytes(checked.statement_hash),
                BatchReason::NotFirstEntry { first_leaf: first },
            ));
        }
        self.active.insert(
            checked.statement_hash,
            ActiveBatch {
                device: checked.device,
                hashes: batch.row.bytes(4).to_vec(),
                end: first + u64::from(checked.size),
            },
        );
        Ok(checked.statement_hash)
    }

    /// The entry count at which the tiles must next be brought up to date: the next tile row or
    /// checkpoint, or at most [`MAX_SEGMENT`] leaves on.
    fn next_boundary(&mut self) -> u64 {
        let mut next = self.position + MAX_SEGMENT;
        if let Some(row) = self.inputs.tiles.peek() {
            next = next.min(ready_at(row).unwrap_or(u64::MAX));
        }
        if let Some(row) = self.inputs.checkpoints.peek() {
            next = next.min(u64::try_from(row.int8(0)).unwrap_or(u64::MAX));
        }
        next.min(self.size).max(self.position + 1)
    }

    /// Adds the pending leaf hashes to the tree and checks every tile row and checkpoint due at the
    /// current size.
    fn flush(&mut self) -> Result<(), Found> {
        let changed = self
            .frontier
            .append(&self.segment)
            .map_err(|error| entry_problem(self.position, EntryReason::Tree(error)))?;
        self.segment.clear();
        let here = self.position;
        let mut checked_full: Vec<TileId> = Vec::new();
        while self
            .inputs
            .tiles
            .peek()
            .is_some_and(|row| ready_at(row).is_none_or(|at| at <= here))
        {
            let Some(row) = self.inputs.tiles.next() else {
                break;
            };
            let id = tile_id(&row)?;
            self.report.tiles += 1;
            if ready_at(&row) != Some(here) {
                return Err(tile_problem(here, id, TileReason::DoesNotFit));
            }
            let stored = row.bytes(3);
            let computed = changed
                .iter()
                .find(|tile| tile.id().level() == id.level() && tile.id().index() == id.index());
            self.compare_tile(id, stored, computed)?;
            if id.is_full() {
                checked_full.push(id);
            }
            let level = usize::from(id.level());
            if self.last_row.len() <= level {
                self.last_row.resize(level + 1, None);
            }
            self.last_row[level] = Some(id);
        }
        if let Some(missing) = changed
            .iter()
            .map(Tile::id)
            .find(|id| id.is_full() && !checked_full.contains(id))
        {
            return Err(tile_problem(
                missing.first_hash_index() << (8 * u32::from(missing.level())),
                missing,
                TileReason::MissingFull,
            ));
        }
        self.check_checkpoints_at(here)?;
        Ok(())
    }

    /// Compares a stored tile row with the rebuilt tile; a difference becomes the suspect (the
    /// first one only) until a checkpoint decides.
    fn compare_tile(
        &mut self,
        id: TileId,
        stored: &[u8],
        computed: Option<&Tile>,
    ) -> Result<(), Found> {
        let Some(computed) = computed else {
            return Err(tile_problem(self.position, id, TileReason::NotInTree));
        };
        let width = usize::from(id.width());
        let expected = computed.hashes().get(..width).unwrap_or(computed.hashes());
        let differing = stored
            .chunks(32)
            .zip(expected)
            .position(|(stored, hash)| stored != hash.as_bytes().as_slice());
        let differing = match differing {
            Some(at) => Some(at),
            None if stored.len() != expected.len() * 32 => Some(0),
            None => None,
        };
        if let Some(at) = differing
            && self.suspect.is_none()
        {
            let hash_index = id.first_hash_index() + at as u64;
            let first_leaf = hash_index << (8 * u32::from(id.level()));
            self.suspect = Some(Suspect {
                id,
                hash: at,
                first_leaf,
            });
        }
        Ok(())
    }

    /// Verifies every checkpoint whose tree size is `here`.
    fn check_checkpoints_at(&mut self, here: u64) -> Result<(), Found> {
        while self
            .inputs
            .checkpoints
            .peek()
            .is_some_and(|row| u64::try_from(row.int8(0)).is_ok_and(|size| size <= here))
        {
            let Some(row) = self.inputs.checkpoints.next() else {
                break;
            };
            let size = u64::try_from(row.int8(0)).unwrap_or(0);
            self.report.checkpoints += 1;
            let root = self.frontier.root();
            self.check_checkpoint(&row, size, here, &root)?;
        }
        Ok(())
    }

    fn check_checkpoint(
        &mut self,
        row: &CopyRow,
        size: u64,
        here: u64,
        recomputed: &RootHash,
    ) -> Result<(), Found> {
        let problem = |reason: CheckpointReason| checkpoint_problem(size, size, reason);
        if size != here {
            return Err(problem(CheckpointReason::NeverThisSize));
        }
        let stored_root = row.bytes(1);
        let message = row
            .text(2)
            .map_err(|error| problem(CheckpointReason::NoteNotUtf8(error)))?;
        let note = Note::parse(message)
            .map_err(|error| problem(CheckpointReason::MalformedNote(error)))?;
        let checkpoint = Checkpoint::from_text(note.text())
            .map_err(|error| problem(CheckpointReason::NotACheckpoint(error)))?;
        let trusted = match &self.trusted {
            Some(trusted) => trusted,
            None => {
                let origin: Origin = checkpoint.origin().clone();
                let verifiers = self.verifiers.clone().unwrap_or_default();
                self.trusted.insert(TrustedLog::new(origin, verifiers))
            }
        };
        let verified = trusted
            .open_checkpoint(message)
            .map_err(|error| problem(CheckpointReason::SignatureFails(error)))?;
        let signed = verified.checkpoint();
        if signed.size().get() != size || signed.root().as_bytes().as_slice() != stored_root {
            return Err(problem(CheckpointReason::ColumnsDiffer {
                signed_size: signed.size(),
                signed_root: *signed.root(),
            }));
        }
        if signed.root() != recomputed {
            if let Some(suspect) = self.suspect.take() {
                return Err(entry_problem(
                    suspect.first_leaf,
                    EntryReason::LeafChanged {
                        tile: suspect.id,
                        checkpoint: size,
                    },
                ));
            }
            return Err(problem(CheckpointReason::RootDiffers {
                rebuilt: *recomputed,
            }));
        }
        if let Some(suspect) = self.suspect.take() {
            return Err(tile_problem(
                suspect.first_leaf,
                suspect.id,
                TileReason::Changed {
                    hash: suspect.hash,
                    first_leaf: suspect.first_leaf,
                    checkpoint: size,
                },
            ));
        }
        let tree_size =
            TreeSize::new(size).map_err(|error| problem(CheckpointReason::NotATreeSize(error)))?;
        self.checkpoints.push((tree_size, *recomputed));
        Ok(())
    }

    /// The final partial tile of every level must be stored at its final width; no row may lie
    /// beyond the tree.
    fn finish_tiles(&mut self) -> Result<(), Found> {
        if let Some(row) = self.inputs.tiles.next() {
            let id = tile_id(&row)?;
            return Err(tile_problem(
                self.size,
                id,
                TileReason::BeyondTree {
                    log_size: self.size,
                },
            ));
        }
        for tile in self.frontier.partial_tiles() {
            let id = tile.id();
            let stored = self
                .last_row
                .get(usize::from(id.level()))
                .copied()
                .flatten();
            if stored != Some(id) {
                return Err(tile_problem(self.size, id, TileReason::MissingPartial));
            }
        }
        Ok(())
    }

    fn finish_batches(&mut self) -> Result<(), Found> {
        if let Some(batch) = self.inputs.batches.next() {
            return Err(batch_problem(
                self.size,
                stored_statement_hash(&batch.row),
                BatchReason::BeyondLog {
                    first_leaf: batch.row.int8(5),
                },
            ));
        }
        Ok(())
    }

    fn finish_checkpoints(&mut self) -> Result<(), Found> {
        if let Some(row) = self.inputs.checkpoints.next() {
            let size = u64::try_from(row.int8(0)).unwrap_or(0);
            return Err(checkpoint_problem(
                self.size,
                size,
                CheckpointReason::BeyondLog {
                    log_size: self.size,
                },
            ));
        }
        Ok(())
    }
}

/// The tile id of a tile row, or a problem if the row is out of range.
fn tile_id(row: &CopyRow) -> Result<TileId, Found> {
    let level = row.int2(0);
    let index = row.int8(1);
    let width = row.int2(2);
    let level = u8::try_from(level).unwrap_or(u8::MAX);
    let index = u64::try_from(index).unwrap_or(u64::MAX);
    let width = u16::try_from(width).unwrap_or(0);
    TileId::new(level, index, width).map_err(|error| Found {
        position: 0,
        problem: AuditProblem::Tile {
            level,
            index,
            width,
            reason: TileReason::ImpossiblePosition(error),
        },
    })
}

/// The tree size at which a tile row's last hash came into being.
fn ready_at(row: &CopyRow) -> Option<u64> {
    let level = row.int2(0);
    let index = row.int8(1);
    let width = row.int2(2);
    let hashes = u64::try_from(index)
        .ok()?
        .checked_mul(u64::from(TILE_WIDTH))?
        .checked_add(u64::try_from(width).ok()?)?;
    let shift = 8 * u32::try_from(level).ok()?;
    if shift >= 64 {
        return None;
    }
    hashes.checked_mul(1u64 << shift)
}

#[cfg(all(test, feature = "testing"))]
mod tests;
