//! A hash map split into many independently shared shards: cloning is cheap
//! (one `Arc` per shard), and changing one key copies only its shard. This is
//! what makes an index update O(shard) instead of O(cluster).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use foldhash::fast::FixedState;

/// Number of shards: ~200 entries each at 100k keys.
const SHARDS: usize = 512;
/// Seed of the shard-selecting hash (different from the maps' own seed so the
/// bits that pick a shard are independent of those the map uses).
const SHARD_SEED: u64 = 0x6b6e_6574_646e_7301;

/// The per-shard map type.
pub(crate) type Map<K, V> = HashMap<K, V, FixedState>;

/// A sharded, structurally shared map.
#[derive(Debug)]
pub(crate) struct Shards<K, V> {
    maps: Box<[Arc<Map<K, V>>]>,
    len: usize,
}

impl<K, V> Clone for Shards<K, V> {
    fn clone(&self) -> Self {
        Shards {
            maps: self.maps.clone(),
            len: self.len,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Default for Shards<K, V> {
    fn default() -> Self {
        Shards {
            maps: (0..SHARDS)
                .map(|_| Arc::new(Map::with_hasher(FixedState::default())))
                .collect(),
            len: 0,
        }
    }
}

fn shard_of<Q: Hash + ?Sized>(k: &Q) -> usize {
    (FixedState::with_seed(SHARD_SEED).hash_one(k) as usize) % SHARDS
}

impl<K: Hash + Eq + Clone, V: Clone> Shards<K, V> {
    /// Looks a key up.
    pub(crate) fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.maps[shard_of(k)].get(k)
    }

    /// Inserts or replaces; copies the shard if it is shared with a snapshot.
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        let m = Arc::make_mut(&mut self.maps[shard_of(&k)]);
        let old = m.insert(k, v);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes a key; copies the shard if it is shared with a snapshot.
    pub(crate) fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = shard_of(k);
        if !self.maps[i].contains_key(k) {
            return None;
        }
        let old = Arc::make_mut(&mut self.maps[i]).remove(k);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// All entries (unordered).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.maps.iter().flat_map(|m| m.iter())
    }
}
