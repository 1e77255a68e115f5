//! The log as a tree of static files in the C2SP tlog-tiles layout (`checkpoint`,
//! `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`), byte for byte what trace-api serves under
//! `/log/`, so that a site can publish its log from any static web server or object store.
//!
//! Files are written to a temporary name and renamed, tiles and entry bundles before the
//! checkpoint, so a server never publishes a checkpoint whose tiles are not there yet. A file that
//! exists is left alone (a tile at a given width never changes), so a second run writes only what
//! the log grew by.

use std::path::{Path, PathBuf};

use ledger::size::TreeSize;
use ledger::tiles::{EntryBundleId, TILE_WIDTH, TileId, tiles_of_tree};

use super::checkpointer::CheckpointStoreError;
use super::log::{Log, ReadError};

/// Tiles read per query.
const TILES_PER_READ: usize = 256;

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportReport {
    /// The tree size of the checkpoint written.
    pub size: TreeSize,
    /// Hash tiles written (the others were there already).
    pub tiles: u64,
    /// Entry bundles written.
    pub bundles: u64,
    /// Files left alone because they existed.
    pub kept: u64,
}

/// Why the export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointStoreError),
    #[error("the log has no signed checkpoint yet: there is nothing to publish")]
    NoCheckpoint,
    #[error("the store has no {0} although its checkpoint covers it: run `tagtrail audit`")]
    Missing(String),
    #[error("failed to write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Log {
    /// Writes the log as of its newest checkpoint into `dir` (see the module documentation).
    pub async fn export_files(&self, dir: &Path) -> Result<ExportReport, ExportError> {
        let checkpoint = self
            .latest_checkpoint()
            .await?
            .ok_or(ExportError::NoCheckpoint)?;
        let size = checkpoint.size;
        let mut report = ExportReport {
            size,
            tiles: 0,
            bundles: 0,
            kept: 0,
        };
        let tiles: Vec<TileId> = tiles_of_tree(size).collect();
        for chunk in tiles.chunks(TILES_PER_READ) {
            let missing: Vec<TileId> = chunk
                .iter()
                .copied()
                .filter(|id| !dir.join(id.path()).exists())
                .collect();
            report.kept += (chunk.len() - missing.len()) as u64;
            let found = self.tiles(&missing).await?;
            if found.len() != missing.len() {
                let absent = missing
                    .iter()
                    .find(|id| !found.iter().any(|tile| tile.id() == **id))
                    .map_or_else(String::new, TileId::path);
                return Err(ExportError::Missing(absent));
            }
            for tile in found {
                write_file(&dir.join(tile.id().path()), &tile.to_bytes())?;
                report.tiles += 1;
            }
        }
        let width = u64::from(TILE_WIDTH);
        for index in 0..size.get().div_ceil(width) {
            let in_bundle = (size.get() - index * width).min(width);
            // Between 1 and 256: `index` is below the bundle count.
            let id = EntryBundleId::new(index, u16::try_from(in_bundle).unwrap_or(TILE_WIDTH))
                .map_err(|error| ExportError::Missing(error.to_string()))?;
            let path = dir.join(id.path());
            if path.exists() {
                report.kept += 1;
                continue;
            }
            let bundle = self
                .entry_bundle(id)
                .await?
                .ok_or_else(|| ExportError::Missing(id.path()))?;
            write_file(&path, &bundle)?;
            report.bundles += 1;
        }
        write_file(&dir.join("checkpoint"), checkpoint.note.as_bytes())?;
        Ok(report)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, renamed into place.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let failed = |source| ExportError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}
