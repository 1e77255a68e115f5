//! [`TileCache`]: tiles already read, kept in memory for the next proofs.
//!
//! A stored tile row never changes (the log is append-only, and a partial tile is stored anew at
//! each width it reaches), so a tile read once at a given width is that tile for good: caching it
//! cannot serve anything stale. Every proof of a large tree reads the same few upper tiles and the
//! partial tiles of the right edge; with them cached, a proof reads little but its level-0 tile.
//!
//! One entry per tile position (level and index), the widest read: a narrower width of the same
//! tile is its first hashes, so it is answered from that entry, and a client asking for every
//! width of every full tile cannot make the cache hold 256 copies of each.
//!
//! Bounded by [`Generations`] (approximately least recently used, at O(1) cost).

use ledger::tiles::{Tile, TileId};

use super::generations::Generations;

/// The most memory one cached tile takes: a full tile's 256 hashes (8 KiB) and, once a proof
/// has used it, the roots of its inner subtrees (255 more hashes), with their headers.
pub const TILE_CACHE_BYTES_PER_TILE: usize = 16_896;

/// How many tiles a store keeps unless told otherwise (at most 66 MiB).
pub(crate) const DEFAULT_CACHED_TILES: usize = 4096;

/// How often a cache answered from memory since the store was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Reads answered from memory.
    pub hits: u64,
    /// Reads that went to the database.
    pub misses: u64,
}

/// What a cache holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheSize {
    /// Values held.
    pub entries: usize,
    /// Their bytes, as the cache counts them.
    pub bytes: usize,
}

/// Hits and misses of one cache, counted where they happen.
#[derive(Debug, Default)]
pub struct CacheCounter {
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

impl CacheCounter {
    /// Counts one read, answered from memory (`hit`) or not.
    pub fn count(&self, hit: bool) {
        if hit { self.add(1, 0) } else { self.add(0, 1) }
    }

    /// Counts several reads at once.
    pub fn add(&self, hits: u64, misses: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.hits.fetch_add(hits, Relaxed);
        self.misses.fetch_add(misses, Relaxed);
    }

    /// The counts so far.
    pub fn counts(&self) -> CacheCounts {
        use std::sync::atomic::Ordering::Relaxed;
        CacheCounts {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
        }
    }
}

/// A bounded cache of tiles by position (level and index), each the widest read.
#[derive(Debug)]
pub(crate) struct TileCache {
    tiles: Generations<(u8, u64), Tile>,
}

impl TileCache {
    /// A cache of up to about `tiles` tiles.
    pub(crate) fn new(tiles: usize) -> Self {
        Self {
            tiles: Generations::new(tiles),
        }
    }

    /// The hits and misses so far (one per tile asked for).
    pub(crate) fn counts(&self) -> CacheCounts {
        self.tiles.counts()
    }

    /// The tiles held, and what they are counted as.
    pub(crate) fn size(&self) -> CacheSize {
        let entries = self.tiles.len();
        CacheSize {
            entries,
            bytes: entries.saturating_mul(TILE_CACHE_BYTES_PER_TILE),
        }
    }

    /// The cached tiles among `ids`, and the ids that are not cached, in the order given.
    pub(crate) fn split(&self, ids: &[TileId]) -> (Vec<Tile>, Vec<TileId>) {
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            let narrowed = self
                .tiles
                .get(&(id.level(), id.index()))
                .and_then(|tile| narrowed(tile, *id));
            match narrowed {
                Some(tile) => found.push(tile),
                None => missing.push(*id),
            }
        }
        (found, missing)
    }

    /// Keeps tiles just read, unless a wider read of the same tile is kept already.
    pub(crate) fn insert(&self, tiles: &[Tile]) {
        for tile in tiles {
            let id = tile.id();
            let position = (id.level(), id.index());
            let wider = self
                .tiles
                .peek(&position)
                .is_some_and(|kept| kept.id().width() >= id.width());
            if !wider {
                self.tiles.insert(position, tile.clone());
            }
        }
    }
}

/// `tile` as read at `id`'s width: itself, or its first hashes; `None` when it is narrower.
fn narrowed(tile: Tile, id: TileId) -> Option<Tile> {
    match tile.id().width().cmp(&id.width()) {
        std::cmp::Ordering::Equal => Some(tile),
        std::cmp::Ordering::Greater => {
            Tile::new(id, tile.hashes()[..usize::from(id.width())].to_vec()).ok()
        }
        std::cmp::Ordering::Less => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::hash::Hash;

    fn tile(index: u64) -> Tile {
        let id = TileId::new(0, index, 1).unwrap();
        Tile::new(
            id,
            vec![Hash::from_bytes([u8::try_from(index % 256).unwrap(); 32])],
        )
        .unwrap()
    }

    #[test]
    fn cached_tiles_are_found_and_the_rest_reported_missing_in_order() {
        let cache = TileCache::new(8);
        cache.insert(&[tile(1), tile(3)]);
        let ids: Vec<TileId> = [3, 2, 1, 4].iter().map(|&i| tile(i).id()).collect();
        let (found, missing) = cache.split(&ids);
        assert_eq!(found, [tile(3), tile(1)]);
        assert_eq!(missing, [ids[1], ids[3]]);
    }

    #[test]
    fn a_wider_read_answers_every_narrower_width_from_one_entry() {
        let hashes: Vec<Hash> = (0..200u8).map(|i| Hash::from_bytes([i; 32])).collect();
        let wide = Tile::new(TileId::new(0, 7, 200).unwrap(), hashes.clone()).unwrap();
        let cache = TileCache::new(8);
        cache.insert(std::slice::from_ref(&wide));
        for width in [1u16, 5, 199, 200] {
            let id = TileId::new(0, 7, width).unwrap();
            let (found, missing) = cache.split(&[id]);
            assert!(missing.is_empty(), "{width}");
            assert_eq!(found[0].id(), id);
            assert_eq!(found[0].hashes(), &hashes[..usize::from(width)]);
        }
        // A wider width than kept is read; a narrower read never replaces the wider entry.
        let wider = TileId::new(0, 7, 201).unwrap();
        assert_eq!(cache.split(&[wider]).1, [wider]);
        let narrow = Tile::new(TileId::new(0, 7, 3).unwrap(), hashes[..3].to_vec()).unwrap();
        cache.insert(&[narrow]);
        assert_eq!(cache.split(&[TileId::new(0, 7, 150).unwrap()]).1, []);
        // One entry for every width asked: filling the cache with widths is not possible.
        for width in 1..=200u16 {
            let id = TileId::new(0, 7, width).unwrap();
            cache.insert(&cache.split(&[id]).0);
        }
        assert_eq!(cache.tiles.peek(&(0, 7)).unwrap().id().width(), 200);
    }

    #[test]
    fn the_least_recently_used_tiles_go_first() {
        // Generations of 2: tiles 0 and 1 fill the young one, 2 turns it old.
        let cache = TileCache::new(4);
        cache.insert(&[tile(0), tile(1), tile(2)]);
        // Using 0 promotes it; 3 then turns the young generation (2, 0) old, dropping 1.
        assert_eq!(cache.split(&[tile(0).id()]).0, [tile(0)]);
        cache.insert(&[tile(3)]);
        let ids: Vec<TileId> = (0..4).map(|i| tile(i).id()).collect();
        let (found, missing) = cache.split(&ids);
        assert_eq!(missing, [tile(1).id()]);
        assert_eq!(found.len(), 3);
    }
}
