//! Tile coordinates and paths of the C2SP tlog-tiles layout (<https://c2sp.org/tlog-tiles>).
//!
//! A tile at level `L` holds up to 256 consecutive hashes of tree level `8 * L`: level 0 tiles hold
//! leaf hashes, a level 1 tile holds the roots of 256 full level 0 tiles, and so on. The rightmost
//! tile of each level is usually partial (1 to 255 hashes wide).

use std::fmt;

use crate::size::TreeSize;

/// Hashes in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// Tree levels spanned by one tile level: a tile is a subtree of height 8.
pub const TILE_HEIGHT: u8 = 8;
/// The highest tile level the specification allows.
pub const MAX_TILE_LEVEL: u8 = 63;

/// One tile: its level, its index within the level and its width (1 to 256 hashes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    level: u8,
    index: u64,
    width: u16,
}

impl TileId {
    /// Checks the ranges: level at most 63, width 1 to 256, and the tile within 2^63 leaves.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Self, TileIdError> {
        if level > MAX_TILE_LEVEL {
            return Err(TileIdError::LevelTooHigh(level));
        }
        if width == 0 || width > TILE_WIDTH {
            return Err(TileIdError::BadWidth(width));
        }
        // The tile's first leaf is `index << (8 * (level + 1))`; it must be below 2^63.
        let shift = u32::from(TILE_HEIGHT) * (u32::from(level) + 1);
        let fits = index == 0 || (shift < 63 && index < (1u64 << (63 - shift)));
        if !fits {
            return Err(TileIdError::IndexTooLarge { level, index });
        }
        Ok(Self {
            level,
            index,
            width,
        })
    }

    /// A full (256-hash) tile.
    pub fn full(level: u8, index: u64) -> Result<Self, TileIdError> {
        Self::new(level, index, TILE_WIDTH)
    }

    pub(crate) const fn new_unchecked(level: u8, index: u64, width: u16) -> Self {
        Self {
            level,
            index,
            width,
        }
    }

    /// The tile level `L` (its hashes are at tree level `8 * L`).
    pub const fn level(self) -> u8 {
        self.level
    }

    /// The tile's position within its level.
    pub const fn index(self) -> u64 {
        self.index
    }

    /// The number of hashes in the tile.
    pub const fn width(self) -> u16 {
        self.width
    }

    /// Whether the tile holds all 256 hashes.
    pub const fn is_full(self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The same tile with another width.
    pub fn with_width(self, width: u16) -> Result<Self, TileIdError> {
        Self::new(self.level, self.index, width)
    }

    /// The index (within tree level `8 * L`) of the tile's first hash.
    pub const fn first_hash_index(self) -> u64 {
        self.index * TILE_WIDTH as u64
    }

    /// The URL path below the log's prefix: `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut path = format!("tile/{}/", self.level);
        push_index(&mut path, self.index);
        push_partial_suffix(&mut path, self.width);
        path
    }

    /// Parses `tile/<L>/<N>[.p/<W>]` in its one canonical spelling.
    pub fn parse_path(path: &str) -> Result<Self, TilePathError> {
        let rest = path
            .strip_prefix("tile/")
            .ok_or(TilePathError::NotATilePath)?;
        let (level, rest) = rest.split_once('/').ok_or(TilePathError::NotATilePath)?;
        let level = parse_decimal(level, 63).ok_or(TilePathError::BadLevel)?;
        let (index, width) = parse_index_and_width(rest)?;
        let level = u8::try_from(level).map_err(|_| TilePathError::BadLevel)?;
        Self::new(level, index, width).map_err(TilePathError::OutOfRange)
    }
}

impl fmt::Debug for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TileId({})", self.path())
    }
}

/// One entry bundle: up to 256 consecutive log entries, served at `tile/entries/<N>[.p/<W>]`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryBundleId {
    index: u64,
    width: u16,
}

impl EntryBundleId {
    /// Checks the width (1 to 256) and that the bundle lies within 2^63 entries.
    pub fn new(index: u64, width: u16) -> Result<Self, TileIdError> {
        let tile = TileId::new(0, index, width)?;
        Ok(Self {
            index: tile.index,
            width: tile.width,
        })
    }

    /// The bundle's position: it holds entries `256 * index ..`.
    pub const fn index(self) -> u64 {
        self.index
    }

    /// The number of entries in the bundle.
    pub const fn width(self) -> u16 {
        self.width
    }

    /// The level 0 tile holding the leaf hashes of these entries.
    pub const fn tile(self) -> TileId {
        TileId::new_unchecked(0, self.index, self.width)
    }

    /// The URL path below the log's prefix: `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut path = String::from("tile/entries/");
        push_index(&mut path, self.index);
        push_partial_suffix(&mut path, self.width);
        path
    }

    /// Parses `tile/entries/<N>[.p/<W>]` in its one canonical spelling.
    pub fn parse_path(path: &str) -> Result<Self, TilePathError> {
        let rest = path
            .strip_prefix("tile/entries/")
            .ok_or(TilePathError::NotATilePath)?;
        let (index, width) = parse_index_and_width(rest)?;
        Self::new(index, width).map_err(TilePathError::OutOfRange)
    }
}

impl fmt::Debug for EntryBundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryBundleId({})", self.path())
    }
}

/// Writes `N` as zero-padded 3-digit groups, all but the last prefixed with `x`:
/// 1234067 is `x001/x234/067`.
fn push_index(out: &mut String, index: u64) {
    let mut groups = Vec::with_capacity(7);
    let mut rest = index;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    for (i, group) in groups.iter().rev().enumerate() {
        if i < last {
            out.push_str(&format!("x{group:03}/"));
        } else {
            out.push_str(&format!("{group:03}"));
        }
    }
}

fn push_partial_suffix(out: &mut String, width: u16) {
    if width != TILE_WIDTH {
        out.push_str(&format!(".p/{width}"));
    }
}

/// Parses `<N>[.p/<W>]`, refusing leading `x000` groups and any other second spelling.
fn parse_index_and_width(text: &str) -> Result<(u64, u16), TilePathError> {
    let (index_text, width) = match text.split_once(".p/") {
        Some((index_text, width_text)) => {
            let width = parse_decimal(width_text, 255).ok_or(TilePathError::BadWidth)?;
            let width = u16::try_from(width).map_err(|_| TilePathError::BadWidth)?;
            if width == 0 {
                return Err(TilePathError::BadWidth);
            }
            (index_text, width)
        }
        None => (text, TILE_WIDTH),
    };
    let groups: Vec<&str> = index_text.split('/').collect();
    let last = groups.len() - 1;
    let mut index: u64 = 0;
    for (i, group) in groups.iter().enumerate() {
        let digits = if i < last {
            group.strip_prefix('x').ok_or(TilePathError::BadIndex)?
        } else {
            group
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TilePathError::BadIndex);
        }
        if i == 0 && i < last && digits == "000" {
            return Err(TilePathError::BadIndex);
        }
        let value: u64 = digits.parse().map_err(|_| TilePathError::BadIndex)?;
        index = index
            .checked_mul(1000)
            .and_then(|n| n.checked_add(value))
            .ok_or(TilePathError::BadIndex)?;
    }
    Ok((index, width))
}

/// A decimal ASCII integer with no sign and no leading zeroes, at most `max`.
fn parse_decimal(text: &str, max: u64) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    let value: u64 = text.parse().ok()?;
    (value <= max).then_some(value)
}

/// Why a tile coordinate is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TileIdError {
    #[error("tile level {0} is above the maximum of 63")]
    LevelTooHigh(u8),
    #[error("a tile is 1 to 256 hashes wide, found {0}")]
    BadWidth(u16),
    #[error("tile {index} of level {level} lies beyond the largest tree of 2^63 leaves")]
    IndexTooLarge { level: u8, index: u64 },
}

/// Why a path is not a canonical tile or entry bundle path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TilePathError {
    #[error("not a tile path: expected `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`")]
    NotATilePath,
    #[error("the tile level must be a decimal from 0 to 63 without leading zeroes")]
    BadLevel,
    #[error(
        "the tile index must be 3-digit groups, all but the last prefixed with `x`, no leading `x000`"
    )]
    BadIndex,
    #[error("a partial tile width must be a decimal from 1 to 255 without leading zeroes")]
    BadWidth,
    #[error(transparent)]
    OutOfRange(TileIdError),
}

/// The tiles that make up a tree of `size` leaves, level by level from level 0, each level left to
/// right: the full tiles and, where the level's hash count is not a multiple of 256, one partial
/// tile.
pub fn tiles_of_tree(size: TreeSize) -> impl Iterator<Item = TileId> {
    changed_tiles(TreeSize::ZERO, size)
}

/// The tiles of the tree of `new` leaves that the tree of `old` leaves did not have (new tiles and
/// wider versions of its partial tiles): what to write after appending `old..new`. Empty when `new`
/// is not larger than `old`.
pub fn changed_tiles(old: TreeSize, new: TreeSize) -> impl Iterator<Item = TileId> {
    (0..=MAX_TILE_LEVEL).flat_map(move |level| {
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let old_hashes = old.get().checked_shr(shift).unwrap_or(0);
        let new_hashes = new.get().checked_shr(shift).unwrap_or(0);
        let width = u64::from(TILE_WIDTH);
        let first = old_hashes / width;
        let end = if new_hashes > old_hashes {
            new_hashes.div_ceil(width)
        } else {
            first
        };
        (first..end).map(move |index| {
            let in_tile = (new_hashes - index * width).min(width);
            // `in_tile` is between 1 and 256 because `index < ceil(new_hashes / 256)`.
            TileId::new_unchecked(level, index, u16::try_from(in_tile).unwrap_or(TILE_WIDTH))
        })
    })
}

/// The width of tile (`level`, `index`) in the tree of `size` leaves, if that tree has the tile.
pub fn tile_width_in(level: u8, index: u64, size: TreeSize) -> Option<u16> {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    let hashes = size.get().checked_shr(shift).unwrap_or(0);
    let before = index.checked_mul(u64::from(TILE_WIDTH))?;
    let in_tile = hashes.checked_sub(before)?.min(u64::from(TILE_WIDTH));
    u16::try_from(in_tile).ok().filter(|&w| w > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Examples from the specification text of c2sp.org/tlog-tiles.
    #[test]
    fn index_1234067_is_written_in_x_prefixed_groups() {
        let tile = TileId::full(0, 1_234_067).unwrap();
        assert_eq!(tile.path(), "tile/0/x001/x234/067");
        assert_eq!(TileId::parse_path("tile/0/x001/x234/067"), Ok(tile));
    }

    #[test]
    fn a_tree_of_70000_leaves_has_the_tiles_the_spec_lists() {
        let tiles: Vec<TileId> = tiles_of_tree(TreeSize::from(70_000)).collect();
        let count = |level: u8, full: bool| {
            tiles
                .iter()
                .filter(|t| t.level() == level && t.is_full() == full)
                .count()
        };
        assert_eq!(count(0, true), 273);
        assert_eq!(count(1, true), 1);
        assert_eq!(count(2, true), 0);
        let partial: Vec<(u8, u16)> = tiles
            .iter()
            .filter(|t| !t.is_full())
            .map(|t| (t.level(), t.width()))
            .collect();
        assert_eq!(partial, [(0, 112), (1, 17), (2, 1)]);
        assert_eq!(tiles.len(), 273 + 1 + 1 + 1 + 1);
    }

    #[test]
    fn a_tree_of_256_leaves_is_a_full_tile_and_a_one_wide_tile_above() {
        let tiles: Vec<String> = tiles_of_tree(TreeSize::from(256))
            .map(|t| t.path())
            .collect();
        assert_eq!(tiles, ["tile/0/000", "tile/1/000.p/1"]);
    }

    #[test]
    fn partial_tiles_and_entry_bundles_have_the_p_suffix() {
        let tile = TileId::new(2, 1000, 7).unwrap();
        assert_eq!(tile.path(), "tile/2/x001/000.p/7");
        assert_eq!(TileId::parse_path("tile/2/x001/000.p/7"), Ok(tile));
        let bundle = EntryBundleId::new(5, 112).unwrap();
        assert_eq!(bundle.path(), "tile/entries/005.p/112");
        assert_eq!(
            EntryBundleId::parse_path("tile/entries/005.p/112"),
            Ok(bundle)
        );
        assert_eq!(bundle.tile(), TileId::new(0, 5, 112).unwrap());
    }

    #[test]
    fn non_canonical_tile_paths_are_refused() {
        for path in [
            "tile/0/5",
            "tile/00/005",
            "tile/64/000",
            "tile/0/x000/005",
            "tile/0/x1/005",
            "tile/0/001/005",
            "tile/0/005.p/0",
            "tile/0/005.p/256",
            "tile/0/005.p/07",
            "tile/0/005/",
            "tiles/0/005",
            "tile/entries/005",
        ] {
            assert!(TileId::parse_path(path).is_err(), "{path} must be refused");
        }
        assert!(EntryBundleId::parse_path("tile/0/005").is_err());
    }

    #[test]
    fn appending_rewrites_only_the_right_edge() {
        let changed: Vec<String> = changed_tiles(TreeSize::from(300), TreeSize::from(600))
            .map(|t| t.path())
            .collect();
        assert_eq!(changed, ["tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2"]);
        assert_eq!(
            changed_tiles(TreeSize::from(5), TreeSize::from(5)).count(),
            0
        );
    }

    #[test]
    fn tiles_beyond_two_to_the_63_leaves_are_refused() {
        assert!(TileId::full(0, (1 << 55) - 1).is_ok());
        assert_eq!(
            TileId::full(0, 1 << 55),
            Err(TileIdError::IndexTooLarge {
                level: 0,
                index: 1 << 55
            })
        );
        assert!(TileId::full(6, 127).is_ok());
        assert!(TileId::full(6, 128).is_err());
        assert!(TileId::full(63, 0).is_ok());
        assert!(TileId::full(7, 1).is_err());
        assert_eq!(TileId::full(64, 0), Err(TileIdError::LevelTooHigh(64)));
        assert_eq!(TileId::new(0, 0, 0), Err(TileIdError::BadWidth(0)));
        assert_eq!(TileId::new(0, 0, 257), Err(TileIdError::BadWidth(257)));
    }

    #[test]
    fn the_width_of_a_tile_depends_on_the_tree_size() {
        let size = TreeSize::from(70_000);
        assert_eq!(tile_width_in(0, 272, size), Some(256));
        assert_eq!(tile_width_in(0, 273, size), Some(112));
        assert_eq!(tile_width_in(0, 274, size), None);
        assert_eq!(tile_width_in(2, 0, size), Some(1));
        assert_eq!(tile_width_in(3, 0, size), None);
    }
}
