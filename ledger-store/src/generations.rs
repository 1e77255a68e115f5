//! [`Generations`]: a bounded map with approximately least-recently-used eviction at O(1) cost,
//! for caches of things that never change (the store's, and its readers'). Hits and new entries go to the young
//! generation; when it is full it becomes the old one and the previous old one is dropped, so an
//! entry used in either generation survives the next turn. A generation is full at its count of
//! entries or, for a map that weighs its values ([`Generations::weighed`]), at its bytes: values
//! of any size (events written by a client, say) then cannot make it hold more memory than that.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use super::tile_cache::{CacheCounter, CacheCounts};

/// A bounded, shared map from keys to values that never change once known.
#[derive(Debug)]
pub struct Generations<K, V> {
    maps: Mutex<Maps<K, V>>,
    generation_size: usize,
    generation_bytes: usize,
    /// The heaviest value held.
    max_value: usize,
    weigh: fn(&V) -> usize,
    counter: CacheCounter,
}

/// The young and the old generation, with the bytes each holds.
#[derive(Debug)]
struct Maps<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    young_bytes: usize,
    old_bytes: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Generations<K, V> {
    /// A map of up to about `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self::weighed(capacity, usize::MAX, |_| 0)
    }

    /// A map of up to about `capacity` entries and `max_bytes` bytes of values as `weigh` counts
    /// them; a value heavier than half of `max_bytes` is not held.
    pub fn weighed(capacity: usize, max_bytes: usize, weigh: fn(&V) -> usize) -> Self {
        Self {
            maps: Mutex::new(Maps {
                young: HashMap::new(),
                old: HashMap::new(),
                young_bytes: 0,
                old_bytes: 0,
            }),
            generation_size: (capacity / 2).max(1),
            generation_bytes: (max_bytes / 2).max(1),
            max_value: usize::MAX,
            weigh,
            counter: CacheCounter::default(),
        }
    }

    /// The same map holding no value that weighs more than `bytes`: such values are asked for
    /// anew each time, so that a few heavy ones cannot push every light one out.
    pub fn holding_at_most(mut self, bytes: usize) -> Self {
        self.max_value = bytes;
        self
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
        if let Some(value) = maps.young.get(key) {
            return Some(value.clone());
        }
        let value = maps.old.remove(key)?;
        maps.old_bytes = maps.old_bytes.saturating_sub((self.weigh)(&value));
        let retired = self.insert_into(&mut maps, key.clone(), value.clone());
        // The retired generation is dropped (its memory freed) after the lock is released.
        drop(maps);
        drop(retired);
        Some(value)
    }

    /// Holds `value` for `key` (unless it alone weighs more than a generation may, or than
    /// [`Self::holding_at_most`] says).
    pub fn insert(&self, key: K, value: V) {
        let mut maps = self.lock();
        let retired = self.insert_into(&mut maps, key, value);
        drop(maps);
        drop(retired);
    }

    /// Hits and misses so far.
    pub fn counts(&self) -> CacheCounts {
        self.counter.counts()
    }

    /// How many values are held.
    pub fn len(&self) -> usize {
        let maps = self.lock();
        maps.young.len() + maps.old.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of the values held, as weighed.
    pub fn bytes(&self) -> usize {
        let maps = self.lock();
        maps.young_bytes.saturating_add(maps.old_bytes)
    }

    /// Holds `value`; the generation it retired to make room, if any, for the caller to drop
    /// once it has let the lock go.
    fn insert_into(&self, maps: &mut Maps<K, V>, key: K, value: V) -> Option<HashMap<K, V>> {
        let weight = (self.weigh)(&value);
        if weight > self.generation_bytes || weight > self.max_value {
            return None;
        }
        if let Some(replaced) = maps.young.remove(&key) {
            maps.young_bytes = maps.young_bytes.saturating_sub((self.weigh)(&replaced));
        }
        let mut retired = None;
        if maps.young.len() >= self.generation_size
            || maps.young_bytes.saturating_add(weight) > self.generation_bytes
        {
            retired = Some(std::mem::replace(
                &mut maps.old,
                std::mem::take(&mut maps.young),
            ));
            maps.old_bytes = std::mem::take(&mut maps.young_bytes);
        }
        maps.young_bytes = maps.young_bytes.saturating_add(weight);
        maps.young.insert(key, value);
        retired
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Maps<K, V>> {
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
        assert!(maps.young.len() + maps.old.len() <= 4);
        drop(maps);
        assert_eq!(map.get(&99), None);
        assert_eq!(map.counts(), CacheCounts { hits: 1, misses: 1 });
    }

    #[test]
    fn a_weighed_map_holds_no_more_bytes_than_its_bound_whatever_the_values() {
        let map: Generations<u32, Vec<u8>> = Generations::weighed(1_000, 100, Vec::len);
        for key in 0..50 {
            map.insert(key, vec![0; 30]);
            assert!(map.bytes() <= 100, "{} bytes after {key}", map.bytes());
        }
        // The newest are kept.
        assert_eq!(map.peek(&49).map(|value| value.len()), Some(30));
        // A value heavier than a generation is not held at all.
        map.insert(99, vec![0; 51]);
        assert_eq!(map.peek(&99), None);
        // Replacing a value counts its bytes once.
        map.insert(49, vec![0; 10]);
        map.insert(49, vec![0; 10]);
        assert!(map.bytes() <= 100);
        let maps = map.lock();
        let counted: usize = maps
            .young
            .values()
            .chain(maps.old.values())
            .map(Vec::len)
            .sum();
        assert_eq!(counted, maps.young_bytes + maps.old_bytes);
    }

    #[test]
    fn a_map_holding_at_most_so_much_per_value_keeps_its_light_values_from_heavy_ones() {
        let map: Generations<u32, Vec<u8>> =
            Generations::weighed(1_000, 100, Vec::len).holding_at_most(10);
        for key in 0..4 {
            map.insert(key, vec![0; 10]);
        }
        // Heavy values, however many, are not held and push nothing out.
        for key in 100..200 {
            map.insert(key, vec![0; 11]);
            assert_eq!(map.peek(&key), None);
        }
        for key in 0..4 {
            assert_eq!(map.peek(&key).map(|value| value.len()), Some(10), "{key}");
        }
    }
}
