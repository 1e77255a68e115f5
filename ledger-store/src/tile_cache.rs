//! [`TileCache`]: tiles already read, kept in memory for the next proofs.
//!
//! A stored tile row never changes (the log is append-only, and a partial tile is stored anew at
//! each width it reaches), so a tile read once at a given width is that tile for good: caching it
//! cannot serve anything stale. Every proof of a large tree reads the same few upper tiles and the
//! partial tiles of the right edge; with them cached, a proof reads little but its level-0 tile.
//!
//! Two generations approximate least-recently-used eviction at O(1) cost: hits and new tiles go to
//! the young generation; when it is full it becomes the old one and the previous old one is
//! dropped. A tile used in either generation survives the next turn.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ledger::tiles::{Tile, TileId};

/// How many tiles a store keeps (full tiles are 8 KiB: about 32 MiB at most).
pub(crate) const DEFAULT_CACHED_TILES: usize = 4096;

/// A bounded cache of tiles by id (level, index and width).
#[derive(Debug)]
pub(crate) struct TileCache {
    generations: Mutex<Generations>,
    /// Tiles per generation.
    generation_size: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How often a cache answered from memory since the store was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Tiles served from the cache.
    pub hits: u64,
    /// Tiles that had to be read.
    pub misses: u64,
}

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<TileId, Tile>,
    old: HashMap<TileId, Tile>,
}

impl TileCache {
    /// A cache of up to about `tiles` tiles.
    pub(crate) fn new(tiles: usize) -> Self {
        Self {
            generations: Mutex::new(Generations::default()),
            generation_size: (tiles / 2).max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The hits and misses so far.
    pub(crate) fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// The cached tiles among `ids`, and the ids that are not cached, in the order given.
    pub(crate) fn split(&self, ids: &[TileId]) -> (Vec<Tile>, Vec<TileId>) {
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        let Ok(mut generations) = self.generations.lock() else {
            self.misses.fetch_add(ids.len() as u64, Ordering::Relaxed);
            return (found, ids.to_vec());
        };
        for id in ids {
            let tile = match generations.young.get(id) {
                Some(tile) => Some(tile.clone()),
                None => generations.old.remove(id).inspect(|tile| {
                    // Promote what is still used.
                    generations.insert(tile.clone(), self.generation_size);
                }),
            };
            match tile {
                Some(tile) => found.push(tile),
                None => missing.push(*id),
            }
        }
        self.hits.fetch_add(found.len() as u64, Ordering::Relaxed);
        self.misses
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        (found, missing)
    }

    /// Keeps tiles just read.
    pub(crate) fn insert(&self, tiles: &[Tile]) {
        if let Ok(mut generations) = self.generations.lock() {
            for tile in tiles {
                generations.insert(tile.clone(), self.generation_size);
            }
        }
    }
}

impl Generations {
    fn insert(&mut self, tile: Tile, generation_size: usize) {
        if self.young.len() >= generation_size {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(tile.id(), tile);
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
