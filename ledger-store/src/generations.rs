//! [`Generations`]: a bounded map with approximately least-recently-used eviction at O(1) cost,
//! for caches of things that never change (the store's, and its readers'). Hits and new entries go to the young
//! generation; when it is full it becomes the old one and the previous old one is dropped, so an
//! entry used in either generation survives the next turn.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use super::tile_cache::{CacheCounter, CacheCounts};

/// A bounded, shared map from keys to values that never change once known.
#[derive(Debug)]
pub struct Generations<K, V> {
    maps: Mutex<(HashMap<K, V>, HashMap<K, V>)>,
    generation_size: usize,
    counter: CacheCounter,
}

impl<K: Hash + Eq + Clone, V: Clone> Generations<K, V> {
    /// A map of up to about `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            maps: Mutex::new((HashMap::new(), HashMap::new())),
            generation_size: (capacity / 2).max(1),
            counter: CacheCounter::default(),
        }
    }

    /// The value of `key`, if held (counted as a hit or a miss).
    pub fn get(&self, key: &K) -> Option<V> {
        let found = self.peek(key);
        self.counter.count(found.is_some());
        found
    }

    /// The value of `key`, if held, without counting.
    pub fn peek(&self, key: &K) -> Option<V> {
        let mut maps = self.lock();
        if let Some(value) = maps.0.get(key) {
            return Some(value.clone());
        }
        let value = maps.1.remove(key)?;
        self.insert_into(&mut maps, key.clone(), value.clone());
        Some(value)
    }

    /// Holds `value` for `key`.
    pub fn insert(&self, key: K, value: V) {
        let mut maps = self.lock();
        self.insert_into(&mut maps, key, value);
    }

    /// Hits and misses so far.
    pub fn counts(&self) -> CacheCounts {
        self.counter.counts()
    }

    fn insert_into(&self, maps: &mut (HashMap<K, V>, HashMap<K, V>), key: K, value: V) {
        if maps.0.len() >= self.generation_size && !maps.0.contains_key(&key) {
            maps.1 = std::mem::take(&mut maps.0);
        }
        maps.0.insert(key, value);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<K, V>, HashMap<K, V>)> {
        self.maps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_used_survives_and_the_rest_is_dropped_within_the_bound() {
        let map = Generations::new(4);
        for key in 0..4 {
            map.insert(key, key * 10);
        }
        // Key 0 is used: it moves to the young generation.
        assert_eq!(map.get(&0), Some(0));
        for key in 4..6 {
            map.insert(key, key * 10);
        }
        assert_eq!(map.peek(&0), Some(0));
        assert_eq!(map.peek(&1), None);
        let maps = map.lock();
        assert!(maps.0.len() + maps.1.len() <= 4);
        drop(maps);
        assert_eq!(map.get(&99), None);
        assert_eq!(map.counts(), CacheCounts { hits: 1, misses: 1 });
    }
}
