//! The witness outside the database of the newest checkpoint the log published: the
//! [`PublishedFile`], and what the [`Checkpointer`](super::Checkpointer) makes of it (a
//! [`SigningGate`] that says whether it signs, and a [`Refusal`] that says why not).
//!
//! A checkpoint is published when its row is committed: readers, trace-api's `/log/checkpoint`,
//! monitors and the anchor worker see it there. A database restored from an older backup has lost
//! the checkpoints published after the backup was taken, and the tree they covered; signing a
//! checkpoint of the restored tree would fork the log (two signed trees that no consistency proof
//! joins). The database cannot remember what it lost, so the checkpointer keeps its own record:
//! it writes every checkpoint to this file, durably, *before* it stores the row, and, at start-up
//! and before every signing, refuses to sign while the database does not hold the tree the file
//! names (fewer entries, or another root at that size).
//!
//! The file holds the signed note exactly as published (C2SP signed note: origin, tree size and
//! root hash on its first three lines, then the signatures), so an operator can read it, and
//! compare it with what monitors saw. It is written as a temporary file next to it, flushed,
//! renamed over it, and its directory flushed: after a crash it holds the old note or the new one,
//! whole. It is read back only as a checkpoint of this log's origin signed by one of its keys (the
//! checkpointer's, or, after a key rotation, one the log signed with before: see
//! [`Checkpointer::with_published_file`](super::Checkpointer::with_published_file)): anything else
//! is an error at start-up, never ignored.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, watch};

use ledger::checkpoint::{CheckpointError, TrustedLog};
use ledger::hash::RootHash;
use ledger::size::TreeSize;

use super::checkpointer::{SigningKeysError, StoredCheckpoint};

/// Where the operator's documentation of a refusal is (what it means, how to recover).
pub const REFUSAL_RUNBOOK: &str = "docs/OPERATIONS.md#checkpointsigningrefused";

/// How often a refusal that goes on is logged again.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The file holding the newest checkpoint the log published, read and written as one whole note.
#[derive(Debug, Clone)]
pub struct PublishedFile {
    path: PathBuf,
    log: TrustedLog,
}

/// Why the published-checkpoint file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PublishedFileError {
    #[error("failed to read the published-checkpoint file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the published-checkpoint file {} is not a checkpoint of this log signed by one of its keys (corrupt, or another log's): refusing to start without knowing what was published; see {REFUSAL_RUNBOOK}",
        .path.display()
    )]
    Invalid {
        path: PathBuf,
        #[source]
        source: CheckpointError,
    },
    /// The file is signed by none of the configured keys, and the keys the log signed with before
    /// (a key rotation) could not be read from the database to check it.
    #[error(
        "the published-checkpoint file {} is signed by none of the configured checkpoint keys, and the keys this log signed with before (the database's signing_keys) could not be read to check it: start ingest once the database answers; see {REFUSAL_RUNBOOK}",
        .path.display()
    )]
    FormerKeys {
        path: PathBuf,
        #[source]
        source: SigningKeysError,
    },
    #[error("the published-checkpoint file {} is not UTF-8 text (corrupt); see {REFUSAL_RUNBOOK}", .path.display())]
    NotText { path: PathBuf },
    #[error("failed to write the published-checkpoint file {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PublishedFile {
    /// The file at `path`, holding checkpoints of `log` (its origin, signed by one of its keys;
    /// [`read`](Self::read) trusts only these).
    pub fn new(path: impl Into<PathBuf>, log: TrustedLog) -> Self {
        Self {
            path: path.into(),
            log,
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The checkpoint the file holds; `None` when there is no file. Blocks on the file system.
    pub fn read(&self) -> Result<Option<StoredCheckpoint>, PublishedFileError> {
        match self.read_note()? {
            Some(note) => self
                .open(&note)
                .map(Some)
                .map_err(|source| self.invalid(source)),
            None => Ok(None),
        }
    }

    /// The file's text, not verified yet; `None` when there is no file. Blocks on the file system.
    pub fn read_note(&self) -> Result<Option<String>, PublishedFileError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PublishedFileError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| PublishedFileError::NotText {
                path: self.path.clone(),
            })
    }

    /// Replaces the file's content with `checkpoint`'s note, durably: a temporary file in the same
    /// directory, flushed, renamed over the file, and the directory flushed. Blocks on the file
    /// system.
    pub fn write(&self, checkpoint: &StoredCheckpoint) -> Result<(), PublishedFileError> {
        let failed = |source| PublishedFileError::Write {
            path: self.path.clone(),
            source,
        };
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = std::fs::File::create(&temporary).map_err(failed)?;
        file.write_all(checkpoint.note.as_bytes()).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        drop(file);
        std::fs::rename(&temporary, &self.path).map_err(failed)?;
        // The rename is durable once the directory is.
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        std::fs::File::open(directory)
            .and_then(|directory| directory.sync_all())
            .map_err(failed)
    }

    /// Parses and verifies a note as a checkpoint of this log, signed by one of the keys the file
    /// was made with.
    pub(crate) fn open(&self, note: &str) -> Result<StoredCheckpoint, CheckpointError> {
        open_checkpoint(&self.log, note)
    }

    /// The error of a file whose note is not a checkpoint of this log.
    pub(crate) fn invalid(&self, source: CheckpointError) -> PublishedFileError {
        PublishedFileError::Invalid {
            path: self.path.clone(),
            source,
        }
    }
}

/// Parses and verifies a note as a checkpoint of `log`.
pub(crate) fn open_checkpoint(
    log: &TrustedLog,
    note: &str,
) -> Result<StoredCheckpoint, CheckpointError> {
    let verified = log.open_checkpoint(note)?;
    Ok(StoredCheckpoint {
        size: verified.checkpoint().size(),
        root: *verified.checkpoint().root(),
        note: note.to_owned(),
    })
}

/// Why the checkpointer refuses to sign: the database does not hold the tree of the newest
/// checkpoint the log published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The published-checkpoint file.
    pub path: PathBuf,
    /// The tree size of the newest checkpoint published.
    pub published_size: TreeSize,
    /// Its root hash.
    pub published_root: RootHash,
    /// The tree size the database holds.
    pub stored_size: TreeSize,
    /// The database tree's root at `published_size`, when it holds that many entries (it then
    /// differs from `published_root`); `None` when it holds fewer.
    pub stored_root: Option<RootHash>,
}

impl Refusal {
    /// What is wrong, without the file's path: what a client may be told.
    pub fn summary(&self) -> String {
        match &self.stored_root {
            None => format!(
                "the ledger database holds {} entries, fewer than the {} of the newest checkpoint this log published",
                self.stored_size, self.published_size
            ),
            Some(stored) => format!(
                "the ledger database's tree at {} entries has root {}, not the root {} this log published at that size",
                self.published_size,
                stored.to_base64(),
                self.published_root.to_base64()
            ),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cause = match self.stored_root {
            None => {
                "the database went back in time (an older backup restored, or its tail rolled back)"
            }
            Some(_) => {
                "the database holds another tree than the one published (another log's database restored, or entries rewritten)"
            }
        };
        write!(
            f,
            "refusing to sign checkpoints and to accept captures: {} (published: {} entries, root {}, as kept in {}); {cause}, and a checkpoint signed now would fork the log. Recover the published tree or start a new log: see {REFUSAL_RUNBOOK}",
            self.summary(),
            self.published_size,
            self.published_root.to_base64(),
            self.path.display()
        )
    }
}

/// Whether the checkpointer signs, as its last comparison of the database with the
/// published-checkpoint file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningState {
    /// Not compared yet: the database has not answered since start-up.
    Unchecked,
    /// The database holds the published tree (or nothing was published yet): the checkpointer
    /// signs. `published` is the tree size of the newest checkpoint the file holds, if any.
    Consistent { published: Option<TreeSize> },
    /// The database contradicts the newest published checkpoint: nothing is signed.
    Refused(Refusal),
}

/// A view of the checkpointer's [`SigningState`], for the service around it (readiness, metrics,
/// and whether it may append). Cheap to clone.
#[derive(Debug, Clone)]
pub struct SigningGate {
    state: watch::Receiver<SigningState>,
}

impl SigningGate {
    /// A gate that always lets through: a checkpointer without a published-checkpoint file.
    pub(crate) fn always() -> Self {
        let (sender, state) = watch::channel(SigningState::Consistent { published: None });
        // A receiver whose sender is gone keeps its last value.
        drop(sender);
        Self { state }
    }

    /// The state now.
    pub fn state(&self) -> SigningState {
        self.state.borrow().clone()
    }

    /// Why the checkpointer refuses to sign, if it does.
    pub fn refusal(&self) -> Option<Refusal> {
        match &*self.state.borrow() {
            SigningState::Refused(refusal) => Some(refusal.clone()),
            _ => None,
        }
    }

    /// The tree size of the newest checkpoint the published-checkpoint file holds, as far as the
    /// checkpointer has read or written it.
    pub fn published_size(&self) -> Option<TreeSize> {
        match &*self.state.borrow() {
            SigningState::Unchecked => None,
            SigningState::Consistent { published } => *published,
            SigningState::Refused(refusal) => Some(refusal.published_size),
        }
    }
}

/// The checkpointer's side: the file, the newest checkpoint it holds, and the state it publishes
/// to its [`SigningGate`]s.
#[derive(Debug)]
pub(crate) struct Witness {
    file: PublishedFile,
    /// The newest checkpoint the file holds; writes to the file are made holding this lock.
    newest: Mutex<Option<StoredCheckpoint>>,
    state: watch::Sender<SigningState>,
    /// When the current refusal was last logged.
    logged: std::sync::Mutex<Option<Instant>>,
}

impl Witness {
    /// The witness of `file`, holding `newest` (its checkpoint, read and verified; `None` when
    /// there is no file yet).
    pub(crate) fn new(file: PublishedFile, newest: Option<StoredCheckpoint>) -> Arc<Self> {
        match &newest {
            Some(newest) => tracing::info!(
                path = %file.path().display(),
                published_size = newest.size.get(),
                "read the newest published checkpoint"
            ),
            None => tracing::info!(
                path = %file.path().display(),
                "no published-checkpoint file yet: it is written with the next checkpoint, or from the database's newest one"
            ),
        }
        let (state, _) = watch::channel(SigningState::Unchecked);
        Arc::new(Self {
            file,
            newest: Mutex::new(newest),
            state,
            logged: std::sync::Mutex::new(None),
        })
    }

    pub(crate) fn gate(&self) -> SigningGate {
        SigningGate {
            state: self.state.subscribe(),
        }
    }

    /// The newest published checkpoint (locked: hold it while comparing and writing).
    pub(crate) async fn newest(&self) -> tokio::sync::MutexGuard<'_, Option<StoredCheckpoint>> {
        self.newest.lock().await
    }

    pub(crate) fn file(&self) -> &PublishedFile {
        &self.file
    }

    /// Writes `checkpoint` to the file (off the runtime) and makes it the newest.
    pub(crate) async fn record(
        &self,
        newest: &mut Option<StoredCheckpoint>,
        checkpoint: StoredCheckpoint,
    ) -> Result<(), PublishedFileError> {
        let file = self.file.clone();
        let written = checkpoint.clone();
        tokio::task::spawn_blocking(move || file.write(&written))
            .await
            .map_err(|error| PublishedFileError::Write {
                path: self.file.path().to_owned(),
                source: std::io::Error::other(error),
            })??;
        *newest = Some(checkpoint);
        Ok(())
    }

    /// The database could not be compared: a consistent state becomes unchecked (a refusal
    /// stands).
    pub(crate) fn lost(&self) {
        self.state.send_if_modified(|state| {
            let consistent = matches!(state, SigningState::Consistent { .. });
            if consistent {
                *state = SigningState::Unchecked;
            }
            consistent
        });
    }

    /// Publishes a new state to the gates, logging a refusal (again every minute while it lasts)
    /// and the end of one.
    pub(crate) fn set(&self, state: SigningState) {
        let previous = self.state.send_replace(state.clone());
        let mut logged = self
            .logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &state {
            SigningState::Refused(refusal) => {
                let again = previous != state
                    || logged.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_INTERVAL);
                if again {
                    tracing::error!(
                        error = %refusal,
                        path = %refusal.path.display(),
                        published_size = refusal.published_size.get(),
                        published_root = %refusal.published_root.to_base64(),
                        stored_size = refusal.stored_size.get(),
                        stored_root = refusal.stored_root.map(|root| root.to_base64()),
                        "the database contradicts the newest published checkpoint"
                    );
                    *logged = Some(Instant::now());
                }
            }
            _ => {
                if matches!(previous, SigningState::Refused(_)) {
                    tracing::info!(
                        path = %self.file.path().display(),
                        "the database holds the published tree again: signing and captures resume"
                    );
                }
                *logged = None;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    use ledger::checkpoint::{Checkpoint, Origin};
    use ledger::note::{KeyName, NoteSignerKey, NoteVerifiers};

    fn signer(seed: u8) -> NoteSignerKey {
        NoteSignerKey::from_seed(KeyName::parse("published.test/log").unwrap(), &[seed; 32])
    }

    fn origin() -> Origin {
        Origin::parse("published.test/log").unwrap()
    }

    fn log_of(signer: &NoteSignerKey) -> TrustedLog {
        TrustedLog::new(
            origin(),
            NoteVerifiers::new(vec![signer.verifier_key()]).unwrap(),
        )
    }

    fn checkpoint(signer: &NoteSignerKey, size: u64, root: u8) -> StoredCheckpoint {
        let size = TreeSize::new(size).unwrap();
        let root = RootHash::from_bytes([root; 32]);
        let note = Checkpoint::new(origin(), size, root)
            .sign(&[signer])
            .unwrap()
            .to_message();
        StoredCheckpoint { size, root, note }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tagtrail-published-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_written_checkpoint_reads_back_and_a_missing_file_is_none() {
        let dir = temp_dir("roundtrip");
        let key = signer(1);
        let file = PublishedFile::new(dir.join("log.published"), log_of(&key));
        assert_eq!(file.read().unwrap(), None);
        let first = checkpoint(&key, 10, 1);
        file.write(&first).unwrap();
        assert_eq!(file.read().unwrap(), Some(first.clone()));
        // The file is the note as published, nothing else; no temporary file is left behind.
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), first.note);
        let second = checkpoint(&key, 20, 2);
        file.write(&second).unwrap();
        assert_eq!(file.read().unwrap(), Some(second));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["log.published"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_an_error_naming_it() {
        let dir = temp_dir("corrupt");
        let key = signer(1);
        let path = dir.join("log.published");
        let file = PublishedFile::new(&path, log_of(&key));
        let mut note = checkpoint(&key, 10, 1).note;

        // A changed character of the root: the signature no longer verifies.
        let flipped = if &note[30..31] == "A" { "B" } else { "A" };
        note.replace_range(30..31, flipped);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("tampered", note.into_bytes()),
            ("empty", Vec::new()),
            (
                "truncated",
                checkpoint(&key, 10, 1).note.as_bytes()[..40].to_vec(),
            ),
            ("binary", vec![0xff, 0xfe, 0x00]),
            // Signed by another key, or for another origin.
            (
                "foreign key",
                checkpoint(&signer(2), 10, 1).note.into_bytes(),
            ),
        ];
        for (case, bytes) in cases {
            std::fs::write(&path, bytes).unwrap();
            let error = file.read().unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains(&path.display().to_string()),
                "{case}: {message}"
            );
            assert!(message.contains(REFUSAL_RUNBOOK), "{case}: {message}");
        }
        let other_origin = Checkpoint::new(
            Origin::parse("other.test/log").unwrap(),
            TreeSize::new(3).unwrap(),
            RootHash::from_bytes([3; 32]),
        )
        .sign(&[&key])
        .unwrap()
        .to_message();
        std::fs::write(&path, other_origin).unwrap();
        assert!(matches!(
            file.read(),
            Err(PublishedFileError::Invalid {
                source: CheckpointError::WrongOrigin { .. },
                ..
            })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_refusal_names_the_sizes_the_roots_the_file_and_the_runbook() {
        let behind = Refusal {
            path: PathBuf::from("/var/lib/tagtrail/log.published"),
            published_size: TreeSize::new(15).unwrap(),
            published_root: RootHash::from_bytes([1; 32]),
            stored_size: TreeSize::new(10).unwrap(),
            stored_root: None,
        };
        let message = behind.to_string();
        for needle in [
            "holds 10 entries, fewer than the 15",
            &RootHash::from_bytes([1; 32]).to_base64(),
            "/var/lib/tagtrail/log.published",
            REFUSAL_RUNBOOK,
        ] {
            assert!(message.contains(needle), "{needle:?} in {message}");
        }
        assert!(!behind.summary().contains("/var/lib"));
        let diverged = Refusal {
            stored_size: TreeSize::new(20).unwrap(),
            stored_root: Some(RootHash::from_bytes([2; 32])),
            ..behind
        };
        let message = diverged.to_string();
        assert!(message.contains("tree at 15 entries has root"), "{message}");
        assert!(
            message.contains(&RootHash::from_bytes([2; 32]).to_base64()),
            "{message}"
        );
    }
}
